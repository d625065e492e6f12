// The upgrade hook, native half: a handshake parked while JS decides, and the table of them.
// I/O thread only.
//
//   CONFIRM_UPGRADE: limits, path -> park the wsi (our lws patch 0100: it keeps its header
//     buffer and stops reading) -> Upgrade event (the request) to JS, timer armed
//   JS decision (command):  accept -> lws_ws_upgrade_resume() (101 with our subprotocol and
//                                     headers; ESTABLISHED follows inside it)
//                           reject -> response written from HTTP_WRITEABLE, then close
//   timer fires first -> 503, as a reject; a late decision finds nothing
//   wsi destroyed (client gone, server closing) -> entry dropped
#pragma once

#include <libwebsockets.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "sul_timer.h"

namespace lwsnode {

class Server;

class PendingUpgrade {
 public:
  // `parked` counts the reactor's parked handshakes (each holds a shared header buffer): this
  // one counts from construction to destruction.
  PendingUpgrade(Server& server, lws* wsi, uint32_t id, size_t& parked);
  ~PendingUpgrade();  // cancels the timer; the wsi is not touched
  PendingUpgrade(const PendingUpgrade&) = delete;
  PendingUpgrade& operator=(const PendingUpgrade&) = delete;

  uint32_t id() const { return id_; }
  Server& server() const { return server_; }
  lws* wsi() const { return wsi_; }
  bool rejecting() const { return !response_.empty(); }

  void armTimeout(lws_context* cx, uint32_t ms);
  // Queues `response` (a whole HTTP response) for the next HTTP_WRITEABLE; the wsi closes after it.
  void reject(std::string response);
  int writeResponse();  // HTTP_WRITEABLE: -1, so lws closes (after flushing what is left)

  // Accept: the 101 names `protocol` (empty: none) and carries `headers` ("Name: value\r\n"...).
  const std::string& headers() const { return headers_; }
  void setHeaders(std::string headers) { headers_ = std::move(headers); }
  // The subprotocol the 101 names (empty: none), reported with the Open event.
  const std::string& protocol() const { return protocol_; }
  void setProtocol(std::string protocol) { protocol_ = std::move(protocol); }
  // ADD_HEADERS: appends our extra response headers; false if they do not fit.
  bool addHeaders(lws_process_html_args& args) const;

 private:
  static constexpr int kBackstopSecs = 5;
  static void onTimeout(lws_sorted_usec_list_t* sul);

  Server& server_;
  size_t& parked_;
  lws* wsi_;
  uint32_t id_;
  std::string headers_;
  std::string protocol_;
  std::vector<uint8_t> response_;  // LWS_PRE headroom, then the response bytes
  SulTimer<PendingUpgrade> timer_{{}, this};
};

// What the Upgrade event carries: method, url, remote address, then header name/value pairs,
// each string as u32 little-endian length + bytes (lib/upgrade.ts decodes it).
// Also sums the header bytes (names + values) for the maxHeaderSize check.
std::string encodeUpgradeRequest(lws* wsi, size_t& headerBytes);

// The request target of the handshake on `wsi`: path, then "?query" if there is one.
std::string requestTarget(lws* wsi);

// For the Open event: appends "\n=value" for each header of `names` (lower case) the request
// has, "\n" for one it lacks, in the order of `names`. Repeated headers come joined by lws.
void appendCapturedHeaders(std::string& out, lws* wsi, const std::vector<std::string>& names);

// What one pass over the request's headers finds (every handshake; see server.cc).
struct RequestHeaderScan {
  size_t bytes = 0;     // the request target plus every header's name and value
  bool hasNul = false;  // a header value holds a NUL byte (RFC 9110 5.5: never valid; lws
                        // would hand JS a value cut short at it). (In the request target lws
                        // takes a NUL for an argument separator.)
};
RequestHeaderScan scanRequestHeaders(lws* wsi);

// True if the client closed or reset its connection: reads are stopped while a handshake is
// parked, so lws has not noticed. A peek costs one syscall per accepted handshake.
bool peerGone(lws* wsi);

// A minimal HTTP response with an empty body, for rejections decided natively.
std::string plainResponse(unsigned status, const char* reason);

}  // namespace lwsnode
