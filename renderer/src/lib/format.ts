// Small text formatting for the UI (counts, rates, durations, file names).

export function basename(path: string): string {
  const parts = path.split(/[\\/]/).filter(Boolean);
  return parts[parts.length - 1] ?? path;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

export function formatRate(perMinute: number | null): string {
  if (perMinute === null) return 'measuring…';
  return `${perMinute >= 10 ? Math.round(perMinute) : perMinute.toFixed(1)} photos/min`;
}

export function formatEta(seconds: number | null): string {
  if (seconds === null) return '—';
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${minutes % 60} min`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(v >= 10 ? 0 : 1)} ${units[i]}`;
}

export function formatDate(iso: string | null): string {
  if (!iso) return 'No date';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

/** Download sizes in decimal gigabytes (as disks and the Hub count them): 0.41 GB, 15.5 GB; small ones in MB. */
export function formatGB(bytes: number): string {
  const gb = bytes / 1e9;
  if (gb < 0.1 && bytes > 0) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${gb.toFixed(gb >= 10 ? 1 : 2)} GB`;
}

/** A transfer rate in MB/s. */
export function formatTransferRate(bytesPerSecond: number): string {
  const mb = bytesPerSecond / 1e6;
  return `${mb.toFixed(mb >= 10 ? 0 : 1)} MB/s`;
}
