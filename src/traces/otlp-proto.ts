// The OTLP trace messages, written for this project from the field numbers of opentelemetry-proto
// (common/v1, resource/v1, trace/v1, collector/trace/v1) plus google.rpc.Status for error bodies. Only the fields
// the registry reads are declared: protobuf decoders skip unknown fields, so links, trace_state, flags, schema
// URLs and dropped counts on the wire cost nothing and break nothing. Parsed once when the module loads.
import protobuf from "protobufjs";

const SOURCE = `
syntax = "proto3";

package promptreg.otlp;

// A oneof in the specification. Declared as proto3 optional fields instead, which is the same on the wire and
// keeps presence (an explicit "" or 0 is still a value): for a real oneof, protobufjs clears the other members with
// a delete each time one is set, which made decoding several times slower. Only presence says which member is set:
// an absent int_value still reads as Long 0 through the message's prototype (see setMember in otlp.ts).
message AnyValue {
  optional string string_value = 1;
  optional bool bool_value = 2;
  optional int64 int_value = 3;
  optional double double_value = 4;
  optional ArrayValue array_value = 5;
  optional KeyValueList kvlist_value = 6;
  optional bytes bytes_value = 7;
}

message ArrayValue {
  repeated AnyValue values = 1;
}

message KeyValueList {
  repeated KeyValue values = 1;
}

message KeyValue {
  string key = 1;
  AnyValue value = 2;
}

message Resource {
  repeated KeyValue attributes = 1;
}

message InstrumentationScope {
  string name = 1;
  string version = 2;
}

message Status {
  string message = 2;
  int32 code = 3;
}

message Event {
  fixed64 time_unix_nano = 1;
  string name = 2;
  repeated KeyValue attributes = 3;
}

message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  bytes parent_span_id = 4;
  string name = 5;
  int32 kind = 6;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9;
  repeated Event events = 11;
  Status status = 15;
}

message ScopeSpans {
  InstrumentationScope scope = 1;
  repeated Span spans = 2;
}

message ResourceSpans {
  Resource resource = 1;
  repeated ScopeSpans scope_spans = 2;
}

message ExportTraceServiceRequest {
  repeated ResourceSpans resource_spans = 1;
}

message ExportTracePartialSuccess {
  int64 rejected_spans = 1;
  string error_message = 2;
}

message ExportTraceServiceResponse {
  ExportTracePartialSuccess partial_success = 1;
}

// google.rpc.Status without details: the body of every 4xx/5xx answer.
message RpcStatus {
  int32 code = 1;
  string message = 2;
}
`;

const root = protobuf.parse(SOURCE).root;
const type = (name: string) => root.lookupType(`promptreg.otlp.${name}`);

export const ExportTraceServiceRequest = type("ExportTraceServiceRequest");
export const ExportTraceServiceResponse = type("ExportTraceServiceResponse");
export const RpcStatus = type("RpcStatus");
