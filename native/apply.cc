// Command application on the I/O thread: per-connection commands at once, vhost-level ones
// (listen, stop, connect, adopt, shutdown) deferred to the prepare turn, outside lws callbacks;
// and the registry of the servers and clients those commands create.
#include "reactor.h"

#include <libwebsockets.h>

#include <unistd.h>

#include "client.h"
#include "connection.h"
#include "send_batch.h"
#include "server.h"

namespace lwsnode {

void Reactor::onWake() {
  // This thread is running loop callbacks: it passes through onPrepare before it polls again.
  commands_.markAwake();
  std::vector<Command> cmds = std::move(applying_);  // empty; its storage goes to the queue
  commands_.takeAll(cmds);
  applyOutsideLws(cmds);
  recycle(std::move(cmds));
  flushDirty();  // one write per connection for the whole batch
}

void Reactor::applyBeforeSleep() {
  std::vector<Command> cmds = std::move(applying_);
  commands_.takeBeforeSleep(cmds);
  applyOutsideLws(cmds);
  recycle(std::move(cmds));
}

void Reactor::recycle(std::vector<Command>&& applied) {
  // A burst's big vector is let go rather than kept for ever.
  if (applied.capacity() > kKeptCommands) return;
  applied.clear();
  applying_ = std::move(applied);
}

void Reactor::applyOutsideLws(std::vector<Command>& cmds) {
  for (Command& cmd : cmds) {
    // Outside lws's callbacks: whatever arms an lws timer (close deadlines, kills) needs an
    // lws turn to take effect; writes and subscriptions do not.
    const CommandType t = cmd.type;
    if (t != CommandType::Send && t != CommandType::SendBatch && t != CommandType::Publish && t != CommandType::Broadcast &&
        t != CommandType::Subscribe && t != CommandType::Unsubscribe)
      lwsNeedsTurn_ = true;
    apply(cmd);
  }
}

void Reactor::apply(Command& cmd) {
  switch (cmd.type) {
    case CommandType::Send:
      if (Connection* c = slots_.get(cmd.slot)) c->enqueue(std::move(cmd.frame), cmd.flags, true);
      break;
    case CommandType::SendBatch:
      applySendBatch(slots_, framePool_, reinterpret_cast<const uint8_t*>(cmd.text.data()), cmd.text.size());
      break;
    case CommandType::Close:
      if (Connection* c = slots_.get(cmd.slot)) c->close(cmd.code, cmd.text, (cmd.flags & kDiscardQueue) != 0);
      break;
    case CommandType::Terminate:
      if (Connection* c = slots_.get(cmd.slot)) c->terminate();
      break;
    case CommandType::HoldReads:
      if (Connection* c = slots_.get(cmd.slot)) c->holdReads(cmd.code != 0);
      break;
    case CommandType::Release:
      slots_.release(cmd.slot);
      break;
    case CommandType::Subscribe:
      if (Connection* c = slots_.get(cmd.slot); c && c->server()) c->server()->subscribe(*c, cmd.text);
      break;
    case CommandType::Unsubscribe:
      if (Connection* c = slots_.get(cmd.slot); c && c->server()) c->server()->unsubscribe(*c, cmd.text);
      break;
    case CommandType::Publish:
    case CommandType::Broadcast: {
      auto it = servers_.find(cmd.slot);
      if (it == servers_.end()) break;
      if (cmd.type == CommandType::Broadcast) {
        it->second->broadcast(cmd.frame);
      } else {
        Connection* sender = (cmd.flags & kExcludeSender) ? slots_.get(static_cast<uint32_t>(cmd.code)) : nullptr;
        it->second->publish(cmd.text, cmd.frame, sender, (cmd.flags & kCountedNatively) == 0);
      }
      break;
    }
    case CommandType::EventsSeen:
      releaseHeldCloses(cmd.slot);  // close_hold.cc
      break;
    case CommandType::SetLogLevels:
      logCx_.lll_flags = LLLF_LOG_CONTEXT_AWARE | static_cast<uint32_t>(cmd.code);
      break;
    case CommandType::ResumeReads:
      resumePausedReads();  // inbound_flow.cc
      break;
    case CommandType::UpgradeAccept:
    case CommandType::UpgradeReject: {
      auto it = servers_.find(cmd.slot);
      if (it == servers_.end()) break;
      const auto id = static_cast<uint32_t>(cmd.code);
      if (cmd.type == CommandType::UpgradeReject) {
        it->second->rejectUpgrade(id, std::move(cmd.text));
      } else {
        const size_t nl = cmd.text.find('\n');
        it->second->acceptUpgrade(id, cmd.text.substr(0, nl), nl == std::string::npos ? std::string() : cmd.text.substr(nl + 1));
      }
      break;
    }
    case CommandType::SetTls: {
      auto it = servers_.find(cmd.slot);
      if (it != servers_.end()) {
        it->second->setTls(static_cast<uint32_t>(cmd.code), *cmd.server);
      } else {
        static const char kGone[] = "ERR_TLS_CERT the server is closed";
        if (pending_.pushCopy(EventType::TlsApplied, 0, cmd.slot, kGone, sizeof kGone - 1))
          pending_.records.back().b = static_cast<uint32_t>(cmd.code);
      }
      break;
    }
    case CommandType::Listen:
    case CommandType::StopServer:
    case CommandType::Shutdown:
    case CommandType::Connect:       // may create a client vhost
    case CommandType::AbortConnect:  // stays ordered after its Connect
    case CommandType::Adopt:         // lws parses the replayed request inside the adoption
      deferred_.push_back(std::move(cmd));
      break;
  }
}

void Reactor::applyDeferred(Command& cmd) {
  switch (cmd.type) {
    case CommandType::Listen: {
      const uint32_t id = cmd.server->id;
      auto server = std::make_unique<Server>(*this, std::move(cmd.server));
      std::string error;
      if (server->listen(error)) {
        pending_.push(EventType::Listening, 0, id, static_cast<uint32_t>(server->port()));
        servers_[id] = std::move(server);
      } else {
        pending_.pushCopy(EventType::ListenError, 0, id, error.data(), error.size());
      }
      break;
    }
    case CommandType::StopServer: {
      auto it = servers_.find(cmd.slot);
      if (it != servers_.end())
        it->second->stop();
      else
        pending_.push(EventType::ServerClosed, 0, cmd.slot);
      break;
    }
    case CommandType::Shutdown:
      shutdownRequested_ = true;
      break;
    case CommandType::Connect: {
      const uint32_t id = cmd.client->id;
      auto client = std::make_unique<Client>(*this, std::move(cmd.client));
      Client& c = *client;
      clients_[id] = std::move(client);
      c.connect(clientVhost(c));
      break;
    }
    case CommandType::AbortConnect: {
      auto it = clients_.find(cmd.slot);
      if (it != clients_.end()) it->second->abort();
      break;
    }
    case CommandType::Adopt: {
      auto it = servers_.find(cmd.slot);
      if (it != servers_.end())
      {
        const size_t nl = cmd.text.find('\n');  // "peer\n" + the bytes already read
        it->second->adopt(cmd.code, cmd.text.substr(nl + 1), cmd.flags, cmd.text.substr(0, nl));
      }
      else
        close(cmd.code);  // the server is gone: so is the connection
      break;
    }
    default:
      break;
  }
}

void Reactor::deferDestroy(Server& server) {
  if (!destroying_) toDestroy_.push_back(server.id());
}

void Reactor::onServerGone(Server& server) {
  pending_.push(EventType::ServerClosed, 0, server.id());
  auto it = servers_.find(server.id());
  if (it == servers_.end()) return;
  graveyard_.push_back(std::move(it->second));
  servers_.erase(it);
}

void Reactor::onClientGone(Client& client) {
  auto it = clients_.find(client.id());
  if (it == clients_.end()) return;
  clientGraveyard_.push_back(std::move(it->second));
  clients_.erase(it);
}

}  // namespace lwsnode
