import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
  // The minimum and maximum in each bucket, drawn as a shaded band around the line.
  band?: { min: (number | null)[]; max: (number | null)[] };
}

// Expands each series with a band into three uPlot series (line, max, min) and returns
// the data columns in that order.
function columns(times: number[], series: ChartSeries[]): uPlot.AlignedData {
  const data: (number | null)[][] = [];
  for (const s of series) {
    data.push(s.values);
    if (s.band) {
      data.push(s.band.max, s.band.min);
    }
  }
  return [times, ...data] as uPlot.AlignedData;
}

interface Props {
  title: string;
  times: number[]; // Unix seconds
  series: ChartSeries[];
  format: (value: number | null) => string;
  height?: number;
  // The time axis's span in Unix seconds, such as a history period, so that a range with
  // few points still shows the whole period. Without it the axis fits the points.
  span?: [number, number];
}

// A time-series chart. Times are shown in the browser's zone, as uPlot does by default;
// the read-out under the chart shows each series at the hovered point.
export function Chart({ title, times, series, format, height = 180, span }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const spanRef = useRef(span);
  spanRef.current = span;
  const shape = series.map((s) => (s.band ? `${s.label}+band` : s.label)).join('|');

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
      scales: { x: { time: true, range: (_u, min, max) => (spanRef.current ? spanRef.current : [min, max]) } },
      axes: [
        { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.2)' } },
        {
          stroke: 'currentColor',
          grid: { stroke: 'rgba(128,128,128,0.2)' },
          size: 80,
          values: (_u, ticks) => ticks.map((t) => format(t)),
        },
      ],
      series: [{}],
      bands: [],
    };
    for (const s of series) {
      const value = (_u: uPlot, v: number | null) => format(v);
      options.series.push({ label: s.band ? `${s.label} (mean)` : s.label, stroke: s.color, width: 1.5, value });
      if (s.band) {
        const max = options.series.length;
        options.series.push({ label: `${s.label} max`, stroke: s.color, width: 0.5, dash: [4, 4], value });
        options.series.push({ label: `${s.label} min`, stroke: s.color, width: 0.5, dash: [4, 4], value });
        options.bands?.push({ series: [max, max + 1], fill: `${s.color}33` });
      }
    }
    plot.current = new uPlot(options, columns(times, series), element);
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
    plot.current?.setData(columns(times, series));
  }, [times, series]);

  return (
    <figure class="chart" data-points={times.length}>
      <figcaption>{title}</figcaption>
      <div ref={box} class="chart-body" />
    </figure>
  );
}
