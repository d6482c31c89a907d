import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
}

interface Props {
  title: string;
  times: number[]; // Unix seconds
  series: ChartSeries[];
  format: (value: number | null) => string;
  height?: number;
}

// A time-series chart. Times are shown in the browser's zone, as uPlot does by default;
// the read-out under the chart shows each series at the hovered point.
export function Chart({ title, times, series, format, height = 180 }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => s.label).join('|');

  useEffect(() => {
    const element = box.current;
    if (!element) {
      return;
    }
    const options: uPlot.Options = {
      width: Math.max(element.clientWidth, 200),
      height,
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: true } },
      axes: [
        { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.2)' } },
        {
          stroke: 'currentColor',
          grid: { stroke: 'rgba(128,128,128,0.2)' },
          size: 80,
          values: (_u, ticks) => ticks.map((t) => format(t)),
        },
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 1.5,
          value: (_u: uPlot, v: number | null) => format(v),
        })),
      ],
    };
    plot.current = new uPlot(options, [times, ...series.map((s) => s.values)], element);
    const observer = new ResizeObserver(() => {
      plot.current?.setSize({ width: Math.max(element.clientWidth, 200), height });
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // The chart is rebuilt only when its series change; new points go through setData.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape, height]);

  useEffect(() => {
    plot.current?.setData([times, ...series.map((s) => s.values)]);
  }, [times, series]);

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} class="chart-body" />
    </figure>
  );
}
