// One colour per compared version, by its place in the comparison (the baseline first), the same on every chart and
// table of the page. The colours live in styles.css (--series-N, light and dark); canvas charts read them from there.
export const SERIES_COLOURS = 6;

export const seriesClass = (index: number): string => `series-${index % SERIES_COLOURS}`;

export function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

export const seriesColour = (index: number): string => cssVar(`--series-${index % SERIES_COLOURS}`, "#888");
