import { useState } from 'preact/hooks';
import { compareCells, type Cell } from '../lib/table';

export type { Cell };

export interface Column {
  title: string;
  // Text shown for a cell; the raw value is used for sorting.
  render?: (value: Cell) => string;
  numeric?: boolean;
}

interface Props {
  label: string;
  columns: Column[];
  rows: Cell[][];
  // The row key is the value of this column (a pid, for processes).
  keyColumn: number;
  initialSort?: { column: number; dir: number };
}

// A table whose column headers sort it; a second click on a header reverses the order.
export function SortableTable({ label, columns, rows, keyColumn, initialSort }: Props) {
  const [sort, setSort] = useState(initialSort ?? { column: keyColumn, dir: 1 });
  const sorted = [...rows].sort((a, b) => compareCells(a[sort.column], b[sort.column], sort.dir));
  // A new column starts descending when it is numeric (largest first), else ascending.
  const sortBy = (column: number) =>
    setSort((prev) => {
      if (prev.column === column) {
        return { column, dir: -prev.dir };
      }
      return { column, dir: columns[column].numeric ? -1 : 1 };
    });
  const direction = sort.dir > 0 ? 'ascending' : 'descending';
  const arrow = sort.dir > 0 ? ' ▲' : ' ▼';
  return (
    <div class="table-wrap">
      <table class="processes" aria-label={label}>
        <thead>
          <tr>
            {columns.map((c, i) => (
              <th key={c.title} scope="col" aria-sort={sort.column === i ? direction : 'none'}>
                <button type="button" class="sort" onClick={() => sortBy(i)}>
                  {c.title}
                  {sort.column === i ? arrow : ''}
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {sorted.map((row) => (
            <tr key={String(row[keyColumn])}>
              {row.map((value, i) => (
                <td key={columns[i]?.title ?? i} class={columns[i]?.numeric ? 'num' : undefined}>
                  {columns[i]?.render ? columns[i].render(value) : (value ?? '—')}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
