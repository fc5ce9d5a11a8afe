// swagger-ui-dist ships no types: what Reference.tsx uses of its ES bundle.
declare module "swagger-ui-dist/swagger-ui-es-bundle.js" {
  const SwaggerUI: (options: {
    domNode: HTMLElement;
    url: string;
    validatorUrl: string | null;
    supportedSubmitMethods: string[];
    defaultModelsExpandDepth: number;
    onComplete: () => void;
  }) => unknown;
  export default SwaggerUI;
}
