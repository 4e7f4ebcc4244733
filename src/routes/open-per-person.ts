import { HttpError } from '../http/errors.ts';
import { personKey } from '../policy/person-key.ts';

/**
 * A bound on the open items (approvals, break-glass grants) one person holds at once. A person is
 * compared as separation of duties compares them (personKey). Items being recorded count as open
 * until their append settles: requests sent at the same moment each read the state before the
 * others' records are in it.
 */
export function openPerPerson(max: number, what: string, revokeHint: string) {
  /** items being recorded, by person */
  const recording = new Map<string, number>();
  return {
    /**
     * Runs `record` (the append that makes the item open) while `name`'s count holds a place for
     * it; `openNow` counts the person's open items in the state. 409 `too_many_open`, before
     * anything is recorded, when the person holds `max` already.
     */
    async hold<T>(name: string, openNow: (person: string) => number, record: () => Promise<T>): Promise<T> {
      const person = personKey(name);
      const open = (recording.get(person) ?? 0) + openNow(person);
      if (open >= max) {
        throw new HttpError(409, 'too_many_open', `${name} has ${open} open ${what}, the most one person may hold; ${revokeHint} or let them expire`);
      }
      recording.set(person, (recording.get(person) ?? 0) + 1);
      try {
        return await record();
      } finally {
        const left = (recording.get(person) ?? 1) - 1;
        if (left > 0) recording.set(person, left);
        else recording.delete(person);
      }
    },
  };
}
