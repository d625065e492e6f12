// An lws timer that knows its owner. lws keeps timers as lws_sorted_usec_list_t and calls back
// with nothing but that pointer, so the owner's pointer sits right behind it in this
// standard-layout struct (the sul first: its address is the struct's). I/O thread only.
#pragma once

#include <libwebsockets.h>

namespace lwsnode {

template <typename Owner>
struct SulTimer {
  lws_sorted_usec_list_t sul;
  Owner* owner;

  // (Re)arms it: `cb` runs on the I/O thread `us` from now, unless cancelled first.
  void schedule(lws_context* cx, sul_cb_t cb, lws_usec_t us) { lws_sul_schedule(cx, 0, &sul, cb, us); }
  // Harmless when not armed; must run while the context (its timer list) is alive.
  void cancel() { lws_sul_cancel(&sul); }
  // In `cb`: the owner of the timer lws called back for.
  static Owner* ownerOf(lws_sorted_usec_list_t* s) { return reinterpret_cast<SulTimer*>(s)->owner; }
};

}  // namespace lwsnode
