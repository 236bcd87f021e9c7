/** Key of system RAM in the reservation ledger (GPUs use their device ids). */
export const RAM = 'ram';

/**
 * Memory promised to spawns that are still loading, per device. Admission subtracts it from the
 * last measured free memory, so two spawns admitted back to back cannot both count the same bytes.
 * A reservation is released once its worker is ready (its memory is then in use and measured) or
 * gone; the next device refresh sees the real figure.
 */
export class DeviceReservations {
  private readonly held = new Map<number, Map<string, number>>();
  private next = 1;

  /** Bytes reserved on `device` by all loading spawns. */
  reserved(device: string): number {
    let sum = 0;
    for (const entry of this.held.values()) sum += entry.get(device) ?? 0;
    return sum;
  }

  /** Holds `bytes` per device until the returned release is called (idempotent). */
  hold(bytes: Record<string, number>): () => void {
    const id = this.next++;
    this.held.set(id, new Map(Object.entries(bytes).filter(([, n]) => n > 0)));
    return () => {
      this.held.delete(id);
    };
  }

  get size(): number {
    return this.held.size;
  }
}
