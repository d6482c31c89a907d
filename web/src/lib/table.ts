// Sorting for tables whose columns are not known in advance, such as the engine's top.

export type Cell = string | number | null;

// Numbers compare as numbers, so "10" sorts after "9". Unknown values (null or empty) sort
// last in either direction, because they are not small values.
export function compareCells(a: Cell, b: Cell, dir: number): number {
  const aKnown = a !== null && a !== '';
  const bKnown = b !== null && b !== '';
  if (!aKnown || !bKnown) {
    if (aKnown === bKnown) {
      return 0;
    }
    return aKnown ? -1 : 1;
  }
  const x = Number(a);
  const y = Number(b);
  if (Number.isFinite(x) && Number.isFinite(y)) {
    return (x - y) * dir;
  }
  return String(a).localeCompare(String(b)) * dir;
}

// Returns, for each column, whether every row contains a number there, as PID, PPID and C of
// ps -ef do. An empty table has no numeric columns.
export function numericColumns(columnCount: number, rows: Cell[][]): boolean[] {
  return Array.from({ length: columnCount }, (_, i) =>
    rows.length > 0 && rows.every((row) => row[i] !== undefined && row[i] !== null && row[i] !== '' && Number.isFinite(Number(row[i]))),
  );
}
