// The gate's own secrets by their shape: local tokens ("gate_") and break-glass tokens ("gbg_"),
// each followed by 43 base64url characters. The twin of src/auth/redact-tokens.ts (TOKEN,
// redactTokens) in the gate, which these scripts cannot import: change both together. The gate
// refuses an `error` holding one (hasNoToken in src/routes/common-schemas.ts); test/ci/
// report-results.test.ts sends bodies with tokens to the real gate to keep the two equal.
const TOKEN = /(gate|gbg)_[A-Za-z0-9_-]{43}/g;
// and a JSON Web Token (a Kubernetes ServiceAccount token, an OIDC ID token): "eyJ" is '{"' in base64url;
// a match starts only where a run of base64url characters does, so the time stays linear in the text
const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g;

/** The text with every gate or break-glass token in it replaced by "<prefix>_[redacted]", and every JWT by "jwt_[redacted]". */
export function redactTokens(text) {
  const gate = text.includes('_') ? text.replace(TOKEN, '$1_[redacted]') : text;
  return gate.includes('eyJ') ? gate.replace(JWT, 'jwt_[redacted]') : gate;
}

/** Whether a text holds no gate or break-glass token (what the gate requires of `error`). */
export const hasNoToken = (text) => redactTokens(text) === text;
