import { PERIODS } from '../lib/history';

// A labelled select of the history periods. With live set, the 15-minute option's label
// states that it also shows the figures the page polls.
export function RangeSelect({ value, onChange, live = false }: { value: string; onChange: (period: string) => void; live?: boolean }) {
  return (
    <label class="inline">
      Range{' '}
      <select value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        {PERIODS.map((r) => (
          <option key={r.id} value={r.id}>
            {live && r.id === '15m' ? `${r.label} (live)` : r.label}
          </option>
        ))}
      </select>
    </label>
  );
}
