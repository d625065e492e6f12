#include "pmd_offer.h"

#include <cctype>
#include <vector>

namespace lwsnode {

namespace {

struct Param {
  std::string name;
  bool hasValue = false;
  std::string value;
};

struct Offer {
  std::string name;
  std::vector<Param> params;
  bool malformed = false;
};

bool isTokenChar(char c) {
  // RFC 7230 tchar
  return std::isalnum(static_cast<unsigned char>(c)) || std::string("!#$%&'*+-.^_`|~").find(c) != std::string::npos;
}

void skipSpace(const std::string& s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}

std::string token(const std::string& s, size_t& i) {
  const size_t start = i;
  while (i < s.size() && isTokenChar(s[i])) ++i;
  return s.substr(start, i - start);
}

// RFC 6455 9.1: extension-list = 1#extension; extension = name *( ";" param ); param = token
// [ "=" (token | quoted-string) ].
std::vector<Offer> parseOffers(const std::string& s) {
  std::vector<Offer> offers;
  size_t i = 0;
  while (i < s.size()) {
    Offer offer;
    skipSpace(s, i);
    if (i < s.size() && s[i] == ',') {  // empty list element
      ++i;
      continue;
    }
    offer.name = token(s, i);
    if (offer.name.empty()) offer.malformed = true;
    skipSpace(s, i);
    while (!offer.malformed && i < s.size() && s[i] == ';') {
      ++i;
      skipSpace(s, i);
      Param p;
      p.name = token(s, i);
      if (p.name.empty()) {
        offer.malformed = true;
        break;
      }
      skipSpace(s, i);
      if (i < s.size() && s[i] == '=') {
        ++i;
        skipSpace(s, i);
        p.hasValue = true;
        if (i < s.size() && s[i] == '"') {
          ++i;
          const size_t start = i;
          while (i < s.size() && s[i] != '"') ++i;
          if (i == s.size()) offer.malformed = true;
          p.value = s.substr(start, i - start);
          if (i < s.size()) ++i;
        } else {
          p.value = token(s, i);
        }
        if (p.value.empty()) offer.malformed = true;
        skipSpace(s, i);
      }
      offer.params.push_back(std::move(p));
    }
    if (i < s.size() && s[i] != ',') offer.malformed = true;
    // Skip to the next element (a malformed one is declined as a whole).
    while (i < s.size() && s[i] != ',') ++i;
    if (i < s.size()) ++i;
    offers.push_back(std::move(offer));
  }
  return offers;
}

// RFC 7692 7.1.2: a window is a decimal 8..15 without leading zeros.
int windowBits(const std::string& v) {
  if (v.size() == 1 && v[0] >= '8' && v[0] <= '9') return v[0] - '0';
  if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return 10 + (v[1] - '0');
  return 0;
}

bool accept(const Offer& offer, PmdAgreement& out) {
  if (offer.malformed) return false;
  bool seenServerNct = false, seenClientNct = false, seenServerBits = false, seenClientBits = false;
  int serverBits = 15;
  for (const Param& p : offer.params) {
    if (p.name == "server_no_context_takeover" || p.name == "client_no_context_takeover") {
      bool& seen = p.name[0] == 's' ? seenServerNct : seenClientNct;
      if (seen || p.hasValue) return false;
      seen = true;
    } else if (p.name == "server_max_window_bits") {
      if (seenServerBits || !p.hasValue) return false;
      seenServerBits = true;
      serverBits = windowBits(p.value);
      if (!serverBits) return false;
    } else if (p.name == "client_max_window_bits") {
      if (seenClientBits || (p.hasValue && !windowBits(p.value))) return false;
      seenClientBits = true;
    } else {
      return false;  // unknown parameter
    }
  }
  // We never keep a compression context (deflater.h), whatever the client asked: say so.
  out.response = "permessage-deflate; server_no_context_takeover";
  if (seenClientNct) out.response += "; client_no_context_takeover";
  if (seenServerBits) out.response += "; server_max_window_bits=" + std::to_string(serverBits);
  // client_max_window_bits is not answered: we inflate with a 15-bit window, which takes
  // whatever window the client compresses with.
  out.clientNoContextTakeover = seenClientNct;
  out.serverWindowBits = serverBits;
  return true;
}

}  // namespace

bool validPmdResponse(const std::string& header) {
  const std::vector<Offer> elements = parseOffers(header);
  if (elements.size() > 1) return false;
  for (const Offer& e : elements) {
    if (e.malformed || e.name != "permessage-deflate") return false;
    PmdAgreement ignored;
    if (!accept(e, ignored)) return false;
    for (const Param& p : e.params)
      if (p.name == "client_max_window_bits" && !p.hasValue) return false;
  }
  return true;
}

int pmdClientWindow(const std::string& header) {
  for (const Offer& e : parseOffers(header)) {
    if (e.malformed || e.name != "permessage-deflate") continue;
    for (const Param& p : e.params) {
      if (p.name != "client_max_window_bits") continue;
      const int bits = p.hasValue ? windowBits(p.value) : 15;
      return bits >= 9 ? bits : 0;
    }
    return 15;
  }
  return 0;
}

bool choosePmdOffer(const std::string& header, PmdAgreement& out) {
  for (const Offer& offer : parseOffers(header)) {
    if (offer.name != "permessage-deflate") continue;
    if (accept(offer, out)) return true;
  }
  return false;
}

}  // namespace lwsnode
