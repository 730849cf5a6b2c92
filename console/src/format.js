// How numbers read in the console: bytes, durations, speeds, times.

const UNITS = ["B", "KB", "MB", "GB", "TB"];

export function formatBytes(bytes) {
  if (bytes == null || !Number.isFinite(bytes)) return "–";
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 || value >= 100 ? 0 : 1)} ${UNITS[unit]}`;
}

export function formatSpeed(bytesPerSecond) {
  return bytesPerSecond ? `${formatBytes(bytesPerSecond)}/s` : "–";
}

/** 75 → "1 min 15 s"; 3700 → "1 h 2 min". */
export function formatDuration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h) return `${h} h ${m} min`;
  return `${m} min ${s % 60} s`;
}

/** Seconds left at `speed` bytes/s for `remaining` bytes, as "about 1 min 15 s left". */
export function formatEta(remaining, speed) {
  if (!speed || remaining == null) return "";
  return `about ${formatDuration(remaining / speed)} left`;
}

export function formatTime(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function formatPercent(ratio) {
  return ratio == null ? "–" : `${Math.round(ratio * 100)}%`;
}

/** QUEUED → "Queued". */
export function statusLabel(status) {
  return status ? status.charAt(0) + status.slice(1).toLowerCase() : "";
}
