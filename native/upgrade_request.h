// RFC 6455 4.2.1 checks on an opening handshake that lws 4.3.5 leaves out: it upgrades a request
// of any method and HTTP version that carries the upgrade headers, any Sec-WebSocket-Key that is
// present, and any Sec-WebSocket-Version (an unknown one falls back to 13). Runs in FILTER_PROTOCOL_CONNECTION.
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
  static const char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 22; ++i)
    if (!std::strchr(kBase64, key[i])) return HTTP_STATUS_BAD_REQUEST;
  // 4.4: any other version is answered 426 (the client may retry with 13).
  char version[8];
  if (lws_hdr_copy(wsi, version, sizeof version, WSI_TOKEN_VERSION) <= 0 || std::strcmp(version, "13") != 0)
    return 426;
  return 0;
}

}  // namespace lwsnode
