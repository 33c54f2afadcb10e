// One sample of a Prometheus text exposition: `name{label="value",...} value`.
export interface MetricSample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

// Parses the Prometheus text format (version 0.0.4): comments and blank lines skipped, label values unescaped
// (\\, \" and \n), NaN and ±Inf read; a line that does not parse is skipped rather than failing the scrape.
export function parsePrometheusText(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const sample = parseLine(line);
    if (sample !== undefined) samples.push(sample);
  }
  return samples;
}

function parseLine(line: string): MetricSample | undefined {
  const name = NAME.exec(line)?.[0];
  if (name === undefined) return undefined;
  let at = name.length;
  const labels: Record<string, string> = {};
  if (line[at] === '{') {
    at++;
    for (;;) {
      while (line[at] === ' ' || line[at] === ',') at++;
      if (line[at] === '}') {
        at++;
        break;
      }
      const key = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(at))?.[0];
      if (key === undefined || line[at + key.length] !== '=' || line[at + key.length + 1] !== '"')
        return undefined;
      at += key.length + 2;
      let value = '';
      for (;;) {
        const c = line[at];
        if (c === undefined) return undefined;
        at++;
        if (c === '"') break;
        if (c === '\\') {
          const escaped = line[at++];
          value += escaped === 'n' ? '\n' : (escaped ?? '');
        } else {
          value += c;
        }
      }
      labels[key] = value;
    }
  }
  const [valueText] = line.slice(at).trim().split(/\s+/);
  const value = parseValue(valueText ?? '');
  return value === undefined ? undefined : { name, labels, value };
}

function parseValue(text: string): number | undefined {
  if (text === 'NaN') return Number.NaN;
  if (text === '+Inf' || text === 'Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === '' || !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return undefined;
  return Number(text);
}
