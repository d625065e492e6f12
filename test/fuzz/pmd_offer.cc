// Fuzzes permessage-deflate negotiation (native/pmd_offer.cc) with arbitrary
// Sec-WebSocket-Extensions headers: parsing never reads out of bounds, an accepted offer's
// window is 8..15 and its response is itself an answer a client accepts (validPmdResponse),
// and any answer validPmdResponse accepts names only permessage-deflate.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "../../native/pmd_offer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string header(reinterpret_cast<const char*>(data), size);
  lwsnode::PmdAgreement agreed;
  if (lwsnode::choosePmdOffer(header, agreed)) {
    if (agreed.serverWindowBits < 8 || agreed.serverWindowBits > 15) std::abort();
    if (agreed.response.rfind("permessage-deflate", 0) != 0) std::abort();
    if (!lwsnode::validPmdResponse(agreed.response)) std::abort();
    if (agreed.response.size() >= 160) std::abort();  // lws's response buffer
  }
  if (lwsnode::validPmdResponse(header) && !header.empty() && header.find("permessage-deflate") == std::string::npos &&
      header.find_first_not_of(" \t,") != std::string::npos)
    std::abort();
  return 0;
}
