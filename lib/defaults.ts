// Every default value of createServer() and connect() options, in one place (the README's option
// tables and the TSDoc of the options repeat them for readers).

/** Largest message accepted after reassembly (server and client): 16 MiB. */
export const DEFAULT_MAX_PAYLOAD_LENGTH = 16 * 1024 * 1024;
/** Bytes a server socket may buffer before sends are dropped: 16 MiB. */
export const DEFAULT_MAX_BACKPRESSURE = 16 * 1024 * 1024;
/** ms a closing handshake may take before the connection is dropped (server and client). */
export const DEFAULT_CLOSE_TIMEOUT = 5000;
/** ms a server socket may stay silent before it is closed. */
export const DEFAULT_IDLE_TIMEOUT = 120_000;
/** ms to complete the opening handshake (server: the request's headers; client: the whole handshake). */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
/** ms the `upgrade` handler (or a `path` function) has to decide. */
export const DEFAULT_UPGRADE_TIMEOUT = 10_000;
/** Handshakes that may wait for the `upgrade` handler at once, per server. */
export const DEFAULT_MAX_PENDING_UPGRADES = 64;
/** Largest upgrade request (target, header names and values) a server answers, in bytes. */
export const DEFAULT_MAX_HEADER_SIZE = 8192;
/** permessage-deflate: messages shorter than this go out uncompressed. */
export const DEFAULT_DEFLATE_THRESHOLD = 1024;
/** permessage-deflate: zlib's own default level. */
export const DEFAULT_DEFLATE_LEVEL = 6;
/** `reconnect`: ms before the first retry (upper bound; jittered). */
export const DEFAULT_RECONNECT_MIN_DELAY = 250;
/** `reconnect`: the largest delay between attempts, in ms (or `minDelay` if that is larger). */
export const DEFAULT_RECONNECT_MAX_DELAY = 10_000;
/** `pubsub`: Redis channel name prefix. */
export const DEFAULT_PUBSUB_PREFIX = "lwsnode:";
/** `pubsub`: messages held while Redis is unreachable. */
export const DEFAULT_PUBSUB_MAX_BUFFERED = 10_000;
/** `pubsub`: bytes held while Redis is unreachable. */
export const DEFAULT_PUBSUB_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** `pubsub.retry`: the first reconnect delay to Redis, in ms. */
export const DEFAULT_PUBSUB_MIN_DELAY = 100;
/** `pubsub.retry`: the largest reconnect delay to Redis, in ms. */
export const DEFAULT_PUBSUB_MAX_DELAY = 5000;
