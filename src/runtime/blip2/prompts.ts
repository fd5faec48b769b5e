// Prompt templates for BLIP-2's tasks (SPEC-blip2.md §7). Which one a model uses is its language
// model's choice (language-models.ts).

export interface ChatTurn {
  question: string;
  answer: string;
}

/** Visual question answering as in the BLIP-2 demo. */
export function questionPrompt(question: string): string {
  return `Question: ${question.trim()} Answer:`;
}

/** Multi-turn chat: earlier turns as "Question: q Answer: a." joined by spaces, then the new question. */
export function chatPrompt(history: readonly ChatTurn[], question: string): string {
  const past = history.map((t) => `Question: ${t.question.trim()} Answer: ${t.answer.trim().replace(/\.$/, '')}.`).join(' ');
  return `${past} ${questionPrompt(question)}`.trimStart();
}

/** Visual question answering as LAVIS evaluates BLIP-2 Flan-T5 (short answers). */
export function shortAnswerPrompt(question: string): string {
  return `Question: ${question.trim()} Short answer:`;
}
