// RFC 6455 4.2.1 checks on an opening handshake that lws 4.3.5 leaves out: it upgrades a request
// of any method and HTTP version that carries the upgrade headers, any Sec-WebSocket-Key that is
// present, and any Sec-WebSocket-Version (an unknown one falls back to 13). Both functions run
// in LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION, on the I/O thread.
#pragma once

#include <libwebsockets.h>

#include <cstring>

namespace lwsnode {

// 0 when the request may be upgraded, else the HTTP status to refuse it with.
inline unsigned upgradeRequestError(lws* wsi) {
  if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) return HTTP_STATUS_BAD_REQUEST;  // not a GET
  // 4.1: HTTP/1.1 or higher ("HTTP/d.d" from the request line).
  char http[16];
  if (lws_hdr_copy(wsi, http, sizeof http, WSI_TOKEN_HTTP) != 8 || std::strncmp(http, "HTTP/", 5) != 0 ||
      http[6] != '.' || http[5] < '1' || http[5] > '9' || http[7] < '0' || http[7] > '9' ||
      (http[5] == '1' && http[7] == '0'))
    return HTTP_STATUS_BAD_REQUEST;
  // The key is base64 of 16 bytes: 22 significant characters and "==".
  char key[32];
  if (lws_hdr_copy(wsi, key, sizeof key, WSI_TOKEN_KEY) != 24 || std::strcmp(key + 22, "==") != 0)
    return HTTP_STATUS_BAD_REQUEST;
  for (int i = 0; i < 22; ++i) {
    const char c = key[i];
    const bool base64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (!base64) return HTTP_STATUS_BAD_REQUEST;
  }
  // 4.4: any other version is answered 426 (the client may retry with 13).
  char version[8];
  if (lws_hdr_copy(wsi, version, sizeof version, WSI_TOKEN_VERSION) <= 0 || std::strcmp(version, "13") != 0)
    return 426;
  return 0;
}

// Answers a refused upgrade and lets lws close the connection. A 426 names the version we speak
// (4.4: "Sec-WebSocket-Version: 13"), which lws_return_http_status cannot add.
inline void refuseUpgrade(lws* wsi, unsigned status) {
  if (status != 426) {
    lws_return_http_status(wsi, status, nullptr);
    return;
  }
  unsigned char buf[LWS_PRE + 256];
  unsigned char* start = buf + LWS_PRE;
  unsigned char* p = start;
  unsigned char* end = buf + sizeof buf;
  if (lws_add_http_header_status(wsi, status, &p, end) ||
      lws_add_http_header_by_token(wsi, WSI_TOKEN_VERSION, reinterpret_cast<const unsigned char*>("13"), 2, &p,
                                   end) ||
      lws_add_http_header_content_length(wsi, 0, &p, end) || lws_finalize_http_header(wsi, &p, end))
    return;
  lws_write(wsi, start, static_cast<size_t>(p - start), LWS_WRITE_HTTP_HEADERS);
}

}  // namespace lwsnode
