// The only libwebsockets names the fuzzed units use, so the harnesses build without lws.
// LWS_PRE only sizes headroom (any value exercises the same code); lws_cancel_service is
// provided by each harness that needs it (command_queue records the wakes).
#pragma once

#define LWS_PRE 16
struct lws_context;
extern "C" void lws_cancel_service(struct lws_context* context);
