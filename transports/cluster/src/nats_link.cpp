#include "tickcast/cluster/internal/nats_link.h"

#include <chrono>
#include <stdexcept>

namespace tickcast::cluster {

std::string status_text(natsStatus s) {
  std::string text = natsStatus_GetText(s);
  const char* last = nats_GetLastError(nullptr);
  if (last && *last && text != last) text += std::string(": ") + last;
  return text;
}

void check(natsStatus s, const std::string& what) {
  if (s != NATS_OK) throw std::runtime_error(what + ": " + status_text(s));
}

Link::Link(const std::vector<std::string>& servers, const std::string& name, int timeout_ms) {
  natsOptions* raw = nullptr;
  check(natsOptions_Create(&raw), "options");
  OptionsPtr opts(raw);
  std::vector<const char*> urls;
  urls.reserve(servers.size());
  for (const auto& s : servers) urls.push_back(s.c_str());
  check(natsOptions_SetServers(opts.get(), urls.data(), static_cast<int>(urls.size())), "servers");
  check(natsOptions_SetName(opts.get(), name.c_str()), "name");
  check(natsOptions_SetTimeout(opts.get(), timeout_ms), "timeout");
  check(natsOptions_SetMaxReconnect(opts.get(), -1), "reconnect");
  check(natsOptions_SetReconnectWait(opts.get(), 250), "reconnect wait");
  check(natsOptions_SetDisconnectedCB(opts.get(), &Link::on_disconnected, this), "callback");
  check(natsOptions_SetReconnectedCB(opts.get(), &Link::on_reconnected, this), "callback");
  check(natsOptions_SetClosedCB(opts.get(), &Link::on_closed, this), "callback");
  natsConnection* nc = nullptr;
  check(natsConnection_Connect(&nc, opts.get()), "connect");
  nc_.reset(nc);
  connected_ = true;
  jsOptions jo;
  check(jsOptions_Init(&jo), "jetstream options");
  jo.Wait = timeout_ms;
  jsCtx* js = nullptr;
  check(natsConnection_JetStream(&js, nc_.get(), &jo), "jetstream");
  js_.reset(js);
}

Link::~Link() {
  js_.reset();
  if (nc_) {
    natsConnection_Close(nc_.get());
    std::unique_lock lock(closed_mutex_);
    closed_cv_.wait_for(lock, std::chrono::seconds(5), [this] { return closed_; });
  }
  nc_.reset();
}

void Link::on_closed(natsConnection*, void* self_ptr) {
  auto* self = static_cast<Link*>(self_ptr);
  std::lock_guard lock(self->closed_mutex_);
  self->closed_ = true;
  self->closed_cv_.notify_all();
}

void Link::on_disconnected(natsConnection*, void* self) {
  static_cast<Link*>(self)->connected_ = false;
}

void Link::on_reconnected(natsConnection*, void* self) {
  static_cast<Link*>(self)->connected_ = true;
}

}  // namespace tickcast::cluster
