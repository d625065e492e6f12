// lwsnode bench load generator: a single-threaded epoll WebSocket client.
//
//   loadgen --mode echo|broadcast|storm|large --port P [options]
//
// It does the client handshake itself (random key, checks Sec-WebSocket-Accept), masks what it
// sends, parses server frames (7/16/64-bit lengths, fragments, ping), and stamps the first 8
// bytes of every payload with the send time (CLOCK_MONOTONIC, ns) to measure latency.
// --pending N bounds the connects and handshakes in flight (storm: 128 by default; the other
// modes start every connection at once unless given): a burst larger than the server's listen
// backlog (SOMAXCONN, 4096) overflows its accept queue, and the kernel then drops and finally
// resets connections a busy server was slow to accept.
// Progress marks go to stderr ("MARK start", "MARK end", "MARK open <n>"); the result is one
// JSON line on stdout. Every phase is bounded by --timeout. Only numeric IPv4 hosts.
//
// Build: cc -O2 -o build/bench/loadgen bench/loadgen.c
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

// ---------------------------------------------------------------------------------------------
// SHA-1 and base64, just enough for Sec-WebSocket-Accept.

static uint32_t rol32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const uint8_t *p) {
  uint32_t w[80];
  for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 80; i++) w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
    else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
    else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
    else f = b ^ c ^ d, k = 0xCA62C1D6;
    uint32_t t = rol32(a, 5) + f + e + k + w[i];
    e = d, d = c, c = rol32(b, 30), b = a, a = t;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

static void sha1(const uint8_t *msg, size_t len, uint8_t out[20]) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  size_t i = 0;
  for (; i + 64 <= len; i += 64) sha1_block(h, msg + i);
  uint8_t tail[128] = {0};
  size_t rest = len - i;
  memcpy(tail, msg + i, rest);
  tail[rest] = 0x80;
  size_t tl = rest + 1 + 8 <= 64 ? 64 : 128;
  uint64_t bits = (uint64_t)len * 8;
  for (int j = 0; j < 8; j++) tail[tl - 1 - j] = (uint8_t)(bits >> (8 * j));
  for (size_t j = 0; j < tl; j += 64) sha1_block(h, tail + j);
  for (int j = 0; j < 5; j++) {
    out[4 * j] = h[j] >> 24, out[4 * j + 1] = h[j] >> 16, out[4 * j + 2] = h[j] >> 8, out[4 * j + 3] = h[j];
  }
}

static size_t base64(const uint8_t *in, size_t len, char *out) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
    out[o++] = tbl[v >> 18 & 63];
    out[o++] = tbl[v >> 12 & 63];
    out[o++] = i + 1 < len ? tbl[v >> 6 & 63] : '=';
    out[o++] = i + 2 < len ? tbl[v & 63] : '=';
  }
  out[o] = 0;
  return o;
}

// ---------------------------------------------------------------------------------------------
// Time, randomness, latency histogram

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state;
static uint64_t rng(void) {  // xorshift64*, seeded from getrandom()
  rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1DULL;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Log-linear buckets: 64 sub-buckets per power of two (error under 1.6%).
#define SUB_BITS 6
#define NBUCKETS ((64 - SUB_BITS + 1) << SUB_BITS)
static uint64_t hist[NBUCKETS];
static uint64_t hist_n;

static int bucket_of(uint64_t v) {
  if (v < (1u << SUB_BITS)) return (int)v;
  int e = 63 - __builtin_clzll(v);
  return ((e - SUB_BITS + 1) << SUB_BITS) + (int)((v >> (e - SUB_BITS)) & ((1u << SUB_BITS) - 1));
}

static double bucket_mid(int b) {
  if (b < (1 << SUB_BITS)) return b;
  int e = (b >> SUB_BITS) + SUB_BITS - 1;
  uint64_t sub = b & ((1 << SUB_BITS) - 1);
  uint64_t lo = (1ULL << e) | (sub << (e - SUB_BITS));
  return (double)lo + (double)(1ULL << (e - SUB_BITS)) / 2;
}

static void hist_add(uint64_t v) { hist[bucket_of(v)]++, hist_n++; }

static double hist_pct_us(double p) {
  if (!hist_n) return 0;
  uint64_t want = (uint64_t)(p * (double)hist_n);
  if (want >= hist_n) want = hist_n - 1;
  uint64_t seen = 0;
  for (int b = 0; b < NBUCKETS; b++) {
    seen += hist[b];
    if (seen > want) return bucket_mid(b) / 1000.0;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Options

enum mode { ECHO, BROADCAST, STORM, LARGE };
static struct {
  enum mode mode;
  const char *mode_name;
  char host[64];
  int port;
  long conns, inflight, size, pending;
  double duration, warmup, rate, timeout, hold;
} opt = {ECHO, "echo", "127.0.0.1", 0, -1, -1, -1, 128, 5, 1, 0, 60, 10};

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen --mode echo|broadcast|storm|large --port P [--host 127.0.0.1]\n"
          "  [--conns N] [--inflight W] [--size BYTES] [--duration S] [--warmup S]\n"
          "  [--rate MSGS_PER_S] [--pending N] [--hold S] [--timeout S]\n");
  exit(2);
}

static int pending_given;  // --pending was given (otherwise only storm bounds its connects)

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i];
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (!strcmp(k, "--mode")) {
      opt.mode_name = v;
      if (!strcmp(v, "echo")) opt.mode = ECHO;
      else if (!strcmp(v, "broadcast")) opt.mode = BROADCAST;
      else if (!strcmp(v, "storm")) opt.mode = STORM;
      else if (!strcmp(v, "large")) opt.mode = LARGE;
      else usage();
    } else if (!strcmp(k, "--host")) snprintf(opt.host, sizeof opt.host, "%s", v);
    else if (!strcmp(k, "--port")) opt.port = atoi(v);
    else if (!strcmp(k, "--conns")) opt.conns = atol(v);
    else if (!strcmp(k, "--inflight")) opt.inflight = atol(v);
    else if (!strcmp(k, "--size")) opt.size = atol(v);
    else if (!strcmp(k, "--pending")) opt.pending = atol(v), pending_given = 1;
    else if (!strcmp(k, "--duration")) opt.duration = atof(v);
    else if (!strcmp(k, "--warmup")) opt.warmup = atof(v);
    else if (!strcmp(k, "--rate")) opt.rate = atof(v);
    else if (!strcmp(k, "--hold")) opt.hold = atof(v);
    else if (!strcmp(k, "--timeout")) opt.timeout = atof(v);
    else usage();
  }
  if (opt.port <= 0 || opt.port > 65535) usage();
  long dc = 100, dw = 16, ds = 64;
  if (opt.mode == BROADCAST) dc = 1000, dw = 8;
  if (opt.mode == STORM) dc = 10000;
  if (opt.mode == LARGE) dc = 1, dw = 1, ds = 1 << 20;
  if (opt.conns < 0) opt.conns = dc;
  if (opt.inflight < 0) opt.inflight = dw;
  if (opt.size < 0) opt.size = ds;
  if (opt.conns < 1 || opt.inflight < 1 || opt.size < 8 || opt.pending < 1 || opt.duration <= 0) usage();
}

// ---------------------------------------------------------------------------------------------
// Connections

enum cstate { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_DEAD };

typedef struct conn {
  int fd;
  enum cstate state;
  int is_pub;        // broadcast: the publishing connection
  int subscribed;    // broadcast: the server acknowledged "sub"
  long inflight;     // echo: messages sent and not yet echoed
  char key[32];      // Sec-WebSocket-Key (base64)
  // handshake response
  char *hbuf;
  size_t hlen;
  // output
  uint8_t *wbuf;
  size_t wlen, wpos, wcap;
  int want_out;
  int dirty;         // frames queued during this epoll batch, written once at its end
  // frame parser
  uint8_t hdr[14];
  int hdr_have, hdr_need;
  uint64_t remaining;   // payload bytes left in the current frame
  int opcode, fin, in_msg;
  int in_ctl, ctl_op;   // a control frame (ping/pong/close) is being read
  uint64_t msg_len;     // bytes of the current message so far
  uint8_t stamp[8];
  int stamp_have;
  uint8_t ctl[125];
  int ctl_have;
} conn;

static int ep;
static uint64_t phase_start;  // when warm-up began (all connections ready)
static uint64_t measure_start, measure_end;
static double cpu_start, cpu_end;
static long pending_connects;  // connects started and not finished (open or failed)
static long next_to_connect;
static conn *conns;
static long nconns;
static struct sockaddr_in addr;
static uint8_t *payload;  // template payload of opt.size bytes (bytes 0-7 overwritten per send)

// counters: raw ones drive the window, measured ones are reset at the start of measurement
static uint64_t sent_total, recv_total, deliveries_total;
static uint64_t m_msgs, m_bytes;
static long opened, failed, subscribed;
static int measuring, finished;
static const char *fail_reason = "";

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void set_events(conn *c) {
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  if (c->state == C_CONNECTING || c->wpos < c->wlen) ev.events |= EPOLLOUT;
  int want = (int)ev.events;
  if (want == c->want_out) return;
  c->want_out = want;
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl");
}

static void kill_conn(conn *c, const char *why) {
  if (c->state == C_DEAD) return;
  if (c->state != C_OPEN || !finished) {
    failed++;
    fail_reason = why;
  }
  if (c->state == C_OPEN) opened--;
  else if (!phase_start) pending_connects--;
  if (c->subscribed) subscribed--, c->subscribed = 0;
  c->state = C_DEAD;
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  free(c->wbuf), c->wbuf = NULL, c->wlen = c->wpos = c->wcap = 0;
  free(c->hbuf), c->hbuf = NULL;
}

static void wreserve(conn *c, size_t more) {
  if (c->wpos == c->wlen) c->wpos = c->wlen = 0;
  if (c->wlen + more <= c->wcap) return;
  if (c->wpos > 0) {
    memmove(c->wbuf, c->wbuf + c->wpos, c->wlen - c->wpos);
    c->wlen -= c->wpos, c->wpos = 0;
    if (c->wlen + more <= c->wcap) return;
  }
  size_t cap = c->wcap ? c->wcap : 4096;
  while (cap < c->wlen + more) cap *= 2;
  c->wbuf = realloc(c->wbuf, cap);
  if (!c->wbuf) die("realloc");
  c->wcap = cap;
}

static void flush_out(conn *c) {
  while (c->wpos < c->wlen) {
    ssize_t n = write(c->fd, c->wbuf + c->wpos, c->wlen - c->wpos);
    if (n > 0) {
      c->wpos += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    kill_conn(c, "write failed");
    return;
  }
  set_events(c);
}

// Appends one masked frame; `stamp` puts the send time in the first 8 payload bytes.
static void queue_frame(conn *c, int opcode, const uint8_t *data, size_t len, int stamp) {
  wreserve(c, len + 14);
  uint8_t *p = c->wbuf + c->wlen;
  size_t h = 0;
  p[h++] = (uint8_t)(0x80 | opcode);
  if (len < 126) {
    p[h++] = (uint8_t)(0x80 | len);
  } else if (len < 65536) {
    p[h++] = 0x80 | 126;
    p[h++] = (uint8_t)(len >> 8), p[h++] = (uint8_t)len;
  } else {
    p[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) p[h++] = (uint8_t)((uint64_t)len >> (8 * i));
  }
  uint32_t key = (uint32_t)rng();
  memcpy(p + h, &key, 4);
  h += 4;
  uint8_t *dst = p + h;
  memcpy(dst, data, len);
  if (stamp && len >= 8) {
    uint64_t t = now_ns();
    memcpy(dst, &t, 8);
  }
  uint64_t k8 = (uint64_t)key | (uint64_t)key << 32;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, dst + i, 8);
    w ^= k8;
    memcpy(dst + i, &w, 8);
  }
  const uint8_t *kb = (const uint8_t *)&key;
  for (; i < len; i++) dst[i] ^= kb[i & 3];
  c->wlen += h + len;
}

static void start_connect(conn *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    c->state = C_CONNECTING;
    kill_conn(c, "socket() failed (fd limit?)");
    return;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->state = C_CONNECTING;
  c->want_out = 0;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
  c->want_out = (int)ev.events;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl add");
  if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) kill_conn(c, "connect failed");
}

static void send_handshake(conn *c) {
  uint8_t raw[16];
  for (int i = 0; i < 16; i += 8) {
    uint64_t r = rng();
    memcpy(raw + i, &r, 8);
  }
  base64(raw, 16, c->key);
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   opt.host, opt.port, c->key);
  wreserve(c, (size_t)n);
  memcpy(c->wbuf + c->wlen, req, (size_t)n);
  c->wlen += (size_t)n;
  c->state = C_HANDSHAKE;
  flush_out(c);
}

// ---------------------------------------------------------------------------------------------
// Workload hooks


// Token bucket for --rate: refills at the rate, holds at most 5 ms worth (no catch-up bursts
// after a stall, so a slow server is offered the same rate, not more).
static double tokens;
static uint64_t tokens_at;
static int rate_allows(void) {
  if (opt.rate <= 0 || !phase_start) return 1;
  uint64_t t = now_ns();
  if (!tokens_at) tokens_at = t, tokens = 1;
  tokens += opt.rate * (double)(t - tokens_at) / 1e9;
  tokens_at = t;
  double cap = opt.rate * 0.005 < 1 ? 1 : opt.rate * 0.005;
  if (tokens > cap) tokens = cap;
  if (tokens < 1) return 0;
  tokens -= 1;
  return 1;
}

// While an epoll batch is being handled, pumps only queue frames; each connection that got
// some is written once at the end of the batch (one write() per connection, not per message).
static int in_batch;
static conn **dirty_list;
static long ndirty;

static void flush_later(conn *c) {
  if (!in_batch) return flush_out(c);
  if (!c->dirty) c->dirty = 1, dirty_list[ndirty++] = c;
}

static void flush_dirty(void) {
  for (long i = 0; i < ndirty; i++) {
    conn *c = dirty_list[i];
    c->dirty = 0;
    if (c->state != C_DEAD) flush_out(c);
  }
  ndirty = 0;
}

// --rate: the tokens go round-robin, one message per connection per pass, to connections
// under their in-flight cap; the cursor carries over, so no connection is favoured (a fixed
// total rate spread over every connection, whichever answered last).
static void echo_pump_rate(void) {
  static long cursor;
  long refused = 0;  // consecutive connections that could not take a message
  while (refused < nconns && !finished && phase_start) {
    conn *c = &conns[cursor];
    if (c->state != C_OPEN || c->inflight >= opt.inflight) {
      refused++;
      cursor = (cursor + 1) % nconns;
      continue;
    }
    if (!rate_allows()) break;  // this connection gets the next token
    queue_frame(c, 2, payload, (size_t)opt.size, 1);
    c->inflight++, sent_total++;
    flush_later(c);
    refused = 0;
    cursor = (cursor + 1) % nconns;
  }
}

static void echo_pump(conn *c) {
  if (opt.rate > 0) return echo_pump_rate();
  if (c->state != C_OPEN || finished || !phase_start) return;
  int queued = 0;
  while (c->inflight < opt.inflight && rate_allows()) {
    queue_frame(c, 2, payload, (size_t)opt.size, 1);
    c->inflight++, sent_total++, queued = 1;
  }
  if (queued) flush_later(c);
}

static conn *publisher;

static void pub_pump(void) {
  conn *c = publisher;
  if (!c || c->state != C_OPEN || finished || !phase_start) return;
  long subs = nconns - 1;
  int queued = 0;
  // window: messages sent that have not yet reached every subscriber, counted in deliveries
  while ((sent_total * (uint64_t)subs) - deliveries_total < (uint64_t)(opt.inflight * subs) && rate_allows()) {
    queue_frame(c, 2, payload, (size_t)opt.size, 1);
    sent_total++, queued = 1;
  }
  if (queued) flush_later(c);
}

static void all_ready(void);

static void on_open(conn *c) {
  opened++;
  pending_connects--;
  if (opt.mode == STORM) {
    free(c->wbuf), c->wbuf = NULL, c->wcap = c->wlen = c->wpos = 0;
    if (opened == opt.conns) all_ready();
    return;
  }
  if (opt.mode == BROADCAST && !c->is_pub) {
    queue_frame(c, 1, (const uint8_t *)"sub\0\0\0\0\0", 3, 0);
    flush_out(c);
    return;
  }
  if (opened == nconns && !(opt.mode == BROADCAST && subscribed < nconns - 1)) all_ready();
}

static void on_message(conn *c, int opcode, uint64_t len, const uint8_t *stamp, int have_stamp) {
  uint64_t t = now_ns();
  recv_total++;
  if (opt.mode == BROADCAST) {
    if (opcode == 1 && !c->is_pub && !c->subscribed) {  // the server's "sub" acknowledgement
      c->subscribed = 1;
      subscribed++;
      if (subscribed == nconns - 1 && opened == nconns) all_ready();
      return;
    }
    if (c->is_pub) return;
    deliveries_total++;
  } else {
    c->inflight--;
  }
  if (len != (uint64_t)opt.size) {
    fail_reason = "unexpected message size";
    failed++;
  }
  if (measuring && have_stamp) {
    uint64_t sent;
    memcpy(&sent, stamp, 8);
    if (sent <= t && t - sent < (uint64_t)60e9) hist_add(t - sent);
    m_msgs++, m_bytes += len;
  }
  if (opt.mode == BROADCAST) pub_pump();
  else echo_pump(c);
}

// Feeds bytes from the server through the frame parser.
static void parse_frames(conn *c, const uint8_t *p, size_t n) {
  while (n > 0 && c->state == C_OPEN) {
    if (c->remaining == 0 && c->hdr_need == 0) c->hdr_have = 0, c->hdr_need = 2;
    if (c->hdr_need > 0) {
      while (n > 0 && c->hdr_have < c->hdr_need) {
        c->hdr[c->hdr_have++] = *p++, n--;
        if (c->hdr_have == 2) {
          if (c->hdr[1] & 0x80) return kill_conn(c, "server frame is masked");
          int l7 = c->hdr[1] & 0x7f;
          c->hdr_need = l7 == 126 ? 4 : l7 == 127 ? 10 : 2;
        }
      }
      if (c->hdr_have < c->hdr_need) return;
      int l7 = c->hdr[1] & 0x7f;
      uint64_t len = (uint64_t)l7;
      if (l7 == 126) len = (uint64_t)c->hdr[2] << 8 | c->hdr[3];
      if (l7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++) len = len << 8 | c->hdr[2 + i];
      }
      c->hdr_need = 0;
      c->fin = c->hdr[0] >> 7;
      int op = c->hdr[0] & 0x0f;
      c->remaining = len;
      if (op >= 8) {
        if (len > 125) return kill_conn(c, "control frame too long");
        c->in_ctl = 1, c->ctl_op = op, c->ctl_have = 0;
      } else {
        if (op != 0) {
          if (c->in_msg) return kill_conn(c, "new message inside a fragmented one");
          c->in_msg = 1, c->opcode = op, c->msg_len = 0, c->stamp_have = 0;
        } else if (!c->in_msg) {
          return kill_conn(c, "continuation without a message");
        }
      }
      if (len > 0) continue;
    }
    // payload bytes
    size_t take = c->remaining < n ? (size_t)c->remaining : n;
    if (c->in_ctl) {
      memcpy(c->ctl + c->ctl_have, p, take);
      c->ctl_have += (int)take;
    } else {
      if (c->stamp_have < 8) {
        size_t s = take < (size_t)(8 - c->stamp_have) ? take : (size_t)(8 - c->stamp_have);
        memcpy(c->stamp + c->stamp_have, p, s);
        c->stamp_have += (int)s;
      }
      c->msg_len += take;
    }
    p += take, n -= take;
    c->remaining -= take;
    if (c->remaining > 0) return;
    // end of frame
    if (c->in_ctl) {
      int op = c->ctl_op;
      c->in_ctl = 0;
      if (op == 9) {
        queue_frame(c, 10, c->ctl, (size_t)c->ctl_have, 0);
        flush_out(c);
      } else if (op == 8) {
        return kill_conn(c, "server closed the connection");
      }
    } else if (c->fin) {
      c->in_msg = 0;
      on_message(c, c->opcode, c->msg_len, c->stamp, c->stamp_have == 8);
    }
  }
}

static int header_has(const char *headers, const char *name, const char *value) {
  size_t nl = strlen(name);
  for (const char *line = headers; line && *line;) {
    const char *end = strstr(line, "\r\n");
    if (!end) break;
    if ((size_t)(end - line) > nl && !strncasecmp(line, name, nl) && line[nl] == ':') {
      const char *v = line + nl + 1;
      while (*v == ' ' || *v == '\t') v++;
      size_t vl = (size_t)(end - v);
      while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
      return vl == strlen(value) && !strncmp(v, value, vl);
    }
    line = end + 2;
  }
  return 0;
}

static void on_handshake_bytes(conn *c, const uint8_t *p, size_t n) {
  c->hbuf = realloc(c->hbuf, c->hlen + n + 1);
  memcpy(c->hbuf + c->hlen, p, n);
  c->hlen += n;
  c->hbuf[c->hlen] = 0;
  char *end = strstr(c->hbuf, "\r\n\r\n");
  if (!end) {
    if (c->hlen > 8192) kill_conn(c, "handshake response too long");
    return;
  }
  if (strncmp(c->hbuf, "HTTP/1.1 101", 12)) return kill_conn(c, "handshake not answered with 101");
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  char both[80];
  int bl = snprintf(both, sizeof both, "%s%s", c->key, guid);
  uint8_t digest[20];
  char accept[32];
  sha1((const uint8_t *)both, (size_t)bl, digest);
  base64(digest, 20, accept);
  end[2] = 0;  // cut after the last header's CRLF
  if (!header_has(c->hbuf, "Sec-WebSocket-Accept", accept)) return kill_conn(c, "bad Sec-WebSocket-Accept");
  size_t used = (size_t)(end + 4 - c->hbuf);
  size_t extra = c->hlen - used;
  char *h = c->hbuf;  // detached: the parser may kill (and free) the connection
  c->hbuf = NULL, c->hlen = 0;
  c->state = C_OPEN;
  c->hdr_need = 0, c->remaining = 0;
  on_open(c);
  if (extra && c->state == C_OPEN) parse_frames(c, (const uint8_t *)h + used, extra);
  free(h);
}

static uint8_t rbuf[1 << 18];

static void on_event(conn *c, uint32_t events) {
  if (c->state == C_CONNECTING) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) return kill_conn(c, "connect refused or failed");
    send_handshake(c);
    return;
  }
  if (events & EPOLLOUT) flush_out(c);
  if (c->state == C_DEAD) return;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    ssize_t n = read(c->fd, rbuf, sizeof rbuf);
    if (n == 0) return kill_conn(c, "server closed the TCP connection");
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      return kill_conn(c, "read failed");
    }
    if (c->state == C_HANDSHAKE) on_handshake_bytes(c, rbuf, (size_t)n);
    else if (c->state == C_OPEN) parse_frames(c, rbuf, (size_t)n);
  }
}

// ---------------------------------------------------------------------------------------------
// Phases

static uint64_t storm_start, storm_done, hold_until;

static void all_ready(void) {
  if (phase_start) return;
  phase_start = now_ns();
  if (opt.mode == STORM) {
    storm_done = phase_start;
    cpu_end = cpu_seconds();
    hold_until = storm_done + (uint64_t)(opt.hold * 1e9);
    fprintf(stderr, "MARK open %ld\n", opened);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};  // stdin: the runner says when to close
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
    return;
  }
  if (opt.warmup <= 0) {
    measuring = 1, measure_start = phase_start, cpu_start = cpu_seconds();
    fprintf(stderr, "MARK start\n");
  }
  if (opt.mode == BROADCAST) pub_pump();
  else if (opt.rate > 0) echo_pump_rate();
  else
    for (long i = 0; i < nconns; i++) echo_pump(&conns[i]);
}

static void print_result(void) {
  double secs = (double)(measure_end - measure_start) / 1e9;
  double cpu = cpu_end - cpu_start;
  printf("{\"mode\":\"%s\",\"conns\":%ld,\"inflight\":%ld,\"size\":%ld,", opt.mode_name, opt.conns, opt.inflight, opt.size);
  if (opt.mode == STORM) {
    double cs = (double)(storm_done - storm_start) / 1e9;
    printf("\"connected\":%ld,\"seconds\":%.6f,\"conns_per_s\":%.1f,", opened, cs, cs > 0 ? opened / cs : 0);
    secs = cs;
  } else {
    printf("\"seconds\":%.6f,\"msgs\":%llu,\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f,\"p50_us\":%.2f,\"p99_us\":%.2f,\"samples\":%llu,",
           secs, (unsigned long long)m_msgs, secs > 0 ? m_msgs / secs : 0, secs > 0 ? m_bytes / secs / 1e6 : 0,
           hist_pct_us(0.50), hist_pct_us(0.99), (unsigned long long)hist_n);
    if (opt.mode == BROADCAST) printf("\"published\":%llu,", (unsigned long long)sent_total);
  }
  printf("\"cpu_s\":%.4f,\"cpu_share\":%.4f,\"errors\":%ld,\"error\":\"%s\"}\n", cpu, secs > 0 ? cpu / secs : 0, failed,
         failed ? fail_reason : "");
  fflush(stdout);
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  if (getrandom(&rng_state, sizeof rng_state, 0) != sizeof rng_state || !rng_state) rng_state = now_ns() | 1;
  struct rlimit rl;
  if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)opt.port);
  if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) usage();
  payload = malloc((size_t)opt.size);
  for (long i = 0; i < opt.size; i++) payload[i] = (uint8_t)('a' + i % 26);

  nconns = opt.conns + (opt.mode == BROADCAST ? 1 : 0);
  conns = calloc((size_t)nconns, sizeof *conns);
  dirty_list = calloc((size_t)nconns, sizeof *dirty_list);
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  for (long i = 0; i < nconns; i++) conns[i].fd = -1;
  if (opt.mode == BROADCAST) publisher = &conns[nconns - 1], publisher->is_pub = 1;

  uint64_t t0 = now_ns();
  uint64_t deadline = t0 + (uint64_t)(opt.timeout * 1e9);
  storm_start = t0;
  if (opt.mode != STORM && !pending_given) opt.pending = nconns;  // all at once
  struct epoll_event evs[512];
  int exit_code = 0;
  for (;;) {
    uint64_t t = now_ns();
    if (t > deadline) {
      fail_reason = phase_start ? "timed out" : "timed out before every connection was ready";
      failed++;
      exit_code = 1;
      break;
    }
    while (!phase_start && next_to_connect < nconns && pending_connects < opt.pending) {
      pending_connects++;
      conn *c = &conns[next_to_connect++];
      start_connect(c);
    }
    if (opt.mode == STORM) {
      if (!phase_start && next_to_connect == nconns && opened + failed >= nconns) {
        if (opened == 0) {
          exit_code = 1;
          break;
        }
        all_ready();  // some failed; report what opened
      }
      if (phase_start && t >= hold_until) break;
    } else if (phase_start) {
      if (!measuring && t >= phase_start + (uint64_t)(opt.warmup * 1e9)) {
        hist_n = 0, memset(hist, 0, sizeof hist), m_msgs = m_bytes = 0;
        measuring = 1, measure_start = t, cpu_start = cpu_seconds();
        fprintf(stderr, "MARK start\n");
      }
      if (measuring && t >= measure_start + (uint64_t)(opt.duration * 1e9)) {
        measure_end = t, cpu_end = cpu_seconds();
        finished = 1;
        fprintf(stderr, "MARK end\n");
        break;
      }
      if (opt.rate > 0) {
        if (opt.mode == BROADCAST) pub_pump();
        else echo_pump_rate();
      }
      if (opened == 0) {
        exit_code = 1;
        break;
      }
    } else if (opened + failed >= nconns && failed > 0) {
      exit_code = 1;  // a connection failed before the workload could start
      break;
    }
    int timeout = opt.rate > 0 ? 1 : 50;
    int n = epoll_wait(ep, evs, 512, timeout);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    int stop = 0;
    in_batch = 1;
    for (int i = 0; i < n; i++) {
      conn *c = evs[i].data.ptr;
      if (!c) {  // stdin readable or closed: the runner has read what it wanted
        char b[64];
        ssize_t ignored = read(0, b, sizeof b);
        (void)ignored;
        stop = 1;
        continue;
      }
      on_event(c, evs[i].events);
    }
    in_batch = 0;
    flush_dirty();
    if (stop) break;
  }
  if (opt.mode == STORM) {
    measure_start = storm_start, measure_end = storm_done ? storm_done : now_ns();
    if (!storm_done) storm_done = measure_end, cpu_end = cpu_seconds();
    cpu_start = 0;
  } else if (!finished) {
    measure_end = now_ns(), cpu_end = cpu_seconds();
    if (!measuring) measure_start = measure_end;
  }
  finished = 1;
  print_result();
  for (long i = 0; i < nconns; i++)
    if (conns[i].fd >= 0) close(conns[i].fd);
  return exit_code || (opt.mode != STORM && m_msgs == 0) ? 1 : 0;
}
