// lwsnode: WebSocket server and client for Node.js, networking on a native I/O thread.
export { createServer, Server } from "./server.js";
export type { ServerStats } from "./server-stats.js";
export type { ServerOptions, ServerHandlers, PerMessageDeflateOptions } from "./server-options.js";
export type { HttpHandler, HttpRequest, HttpResponse } from "./http-handler.js";
export { ServerWebSocket } from "./server-websocket.js";
export { ReadyState } from "./socket-core.js";
export { MAX_TOPIC_LENGTH, type SendData } from "./send-args.js";
export { SendStatus, PublishStatus, BACKPRESSURE_HIGH_WATER_MARK } from "./send-status.js";
export { ListenError, ClosedError } from "./errors.js";
export { TlsConfigError, type PeerCertificate, type TlsIdentity, type TlsOptions, type TlsProtocolOptions, type TlsVersion } from "./tls-options.js";
export { isSendableCloseCode, MAX_CLOSE_REASON_BYTES } from "./close-codes.js";
export { setLogger, type Logger, type LogLevel } from "./logger.js";
export {
  UpgradeResponseError,
  type UpgradeRequest,
  type UpgradeAccept,
  type UpgradeReject,
  type UpgradeResponse,
  type UpgradeHandler,
  type PathOption,
} from "./upgrade.js";
export { connect, ClientWebSocket } from "./client.js";
export type { ClientWebSocketEvents } from "./client-events.js";
export type { ClientMessage } from "./client-messages.js";
export { createWebSocketStream, type WebSocketStreamOptions } from "./client-stream.js";
export type { ConnectOptions, ClientTlsOptions } from "./client-options.js";
export type { ReconnectOptions } from "./reconnect.js";
export { ConnectError, type ConnectFailure } from "./errors.js";
export { WebSocket, CloseEvent, ErrorEvent, type BinaryType } from "./websocket.js";
export { createPublisher, type Publisher, type PublisherHandle } from "./publisher.js";
export type { PubSubOptions } from "./pubsub/options.js";
export type { PubSubEvent, PubSubCounters } from "./pubsub/adapter.js";
export { PubSubClientMissingError } from "./pubsub/redis.js";
