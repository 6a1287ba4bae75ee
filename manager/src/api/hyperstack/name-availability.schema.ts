// Hyperstack's answer to a name-availability check (NameAvailableModel), with the usual status.
import { Type } from "@sinclair/typebox";

export const NameAvailability = Type.Object({
  status: Type.Literal(true),
  message: Type.String({ description: "Why the name is or is not available" }),
  name: Type.String({ description: "The name asked about" }),
  available: Type.Boolean(),
}, { additionalProperties: false });
