/**
 * Structural schema of a Warehouse image subscription, written by us. The v1.11.2 Warehouse CRD
 * stores subscriptions as free-form JSON (x-kubernetes-preserve-unknown-fields); Kargo checks
 * them against its own type, whose documented fields are restated here.
 */
export const imageSubscriptionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['image'],
  properties: {
    image: {
      type: 'object',
      additionalProperties: false,
      required: ['repoURL'],
      properties: {
        // our own statement of an OCI repository name: [registry[:port]/]component(/component)*,
        // lower-case components separated by . _ or -
        repoURL: { type: 'string', minLength: 1, pattern: '^(?:[a-z0-9]+(?:[.-][a-z0-9]+)*(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$' },
        imageSelectionStrategy: { enum: ['Digest', 'Lexical', 'NewestBuild', 'SemVer'] },
        strictSemvers: { type: 'boolean' },
        constraint: { type: 'string' },
        allowTags: { type: 'string' },
        allowTagsRegexes: { type: 'array', items: { type: 'string' } },
        ignoreTags: { type: 'array', items: { type: 'string' } },
        ignoreTagsRegexes: { type: 'array', items: { type: 'string' } },
        platform: { type: 'string' },
        insecureSkipTLSVerify: { type: 'boolean' },
        cacheByTag: { type: 'boolean' },
        discoveryLimit: { type: 'integer', minimum: 1, maximum: 100 },
      },
    },
  },
} as const;
