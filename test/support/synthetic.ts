/**
 * Synthetic passengers drawn from the Titanic distribution, as `bench:data` draws its CSV: a seeded bootstrap of
 * the real rows with Age jittered (sd 2 years, rounded to half years) and Fare jittered (log-normal, sd 0.1).
 * Empty ages and fares stay empty. For tests and benchmarks that need more rows than the 891 real ones.
 */
import { readFileSync } from 'node:fs';
import { readPassengerCsv } from '../../shared/core/csv-stream.ts';
import { createRng, type Rng } from '../../shared/core/rng.ts';
import type { LabelledPassenger } from '../../shared/core/schema.ts';
import { TITANIC_CSV } from './titanic.ts';

const gauss = (rng: Rng): number => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());

export async function syntheticPassengers(n: number, seed = 20_260_101): Promise<LabelledPassenger[]> {
  const { rows } = await readPassengerCsv(readFileSync(TITANIC_CSV, 'utf8'), { requireSurvived: true });
  const templates = rows.map((r) => r.passenger as LabelledPassenger);
  const rng = createRng(seed);
  return Array.from({ length: n }, (_, i) => {
    const t = templates[rng.int(templates.length)] as LabelledPassenger;
    const age = t.age === null ? null : Math.max(0.42, Math.round((t.age + 2 * gauss(rng)) * 2) / 2);
    const fare = t.fare === null ? null : Number((t.fare * Math.exp(0.1 * gauss(rng))).toFixed(4));
    return { ...t, passengerId: i + 1, age, fare };
  });
}

const cell = (v: string): string => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

/** `syntheticPassengers(n, seed)` as a Kaggle-format CSV (what an upload holds). */
export async function syntheticCsv(n: number, seed = 20_260_101): Promise<string> {
  const lines = ['PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked'];
  for (const p of await syntheticPassengers(n, seed)) {
    lines.push(
      [
        p.passengerId,
        p.survived,
        p.pclass,
        cell(p.name),
        p.sex,
        p.age ?? '',
        p.sibSp,
        p.parch,
        cell(p.ticket),
        p.fare ?? '',
        cell(p.cabin ?? ''),
        p.embarked ?? '',
      ].join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}
