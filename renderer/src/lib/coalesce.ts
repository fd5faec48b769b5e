// Turns bursts of events (a library change per captioned photo) into at most one run per `waitMs`,
// never two at once, and always one run after the last call.
export interface Coalesced {
  (): void;
  cancel(): void;
}

export function coalesce(fn: () => unknown, waitMs: number): Coalesced {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let running = false;
  let again = false;

  const run = async () => {
    timer = null;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await fn();
    } finally {
      running = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  };
  const schedule = (() => {
    timer ??= setTimeout(run, waitMs);
  }) as Coalesced;
  schedule.cancel = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    again = false;
  };
  return schedule;
}
