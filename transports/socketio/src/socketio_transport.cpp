#include "tickcast/socketio/socketio_transport.h"

#include "impl.h"

namespace tickcast::socketio {

SocketIoTransport::SocketIoTransport(http::Server& server, SocketIoOptions options)
    : impl_(std::make_shared<Impl>(server, std::move(options))) {}

SocketIoTransport::~SocketIoTransport() { stop(); }

void SocketIoTransport::start(Sink& sink) {
  impl_->start(sink, [&] {
    auto& loop = impl_->server.loop();
    loop.add_websocket_endpoint(impl_->options.path, &impl_->ws_endpoint);
    // Clients ask for `/socket.io/` (socket.io-client adds the slash) or `/socket.io`; the
    // router tells the two apart, so both are routed.
    for (const std::string& path : {impl_->options.path, impl_->options.path + "/"}) {
      loop.add_stream_endpoint("GET", path, &impl_->poll_endpoint);
      loop.add_stream_endpoint("POST", path, &impl_->poll_endpoint);
    }
    if (impl_->server.options().auth) {
      loop.add_sweep(impl_.get(), [weak = std::weak_ptr<Impl>(impl_)](auto now) {
        if (auto impl = weak.lock()) impl->expire(now);
      });
    }
  });
}

void SocketIoTransport::stop() {
  if (!impl_->sink) return;
  impl_->stop();
  // The sessions are gone at once; their connections close once the goodbye is written.
  // Whatever did not close in time is dropped by the loop when the Server stops.
  impl_->wait_connections_gone(std::chrono::seconds(2));
}

void SocketIoTransport::publish(std::string_view room, const Message& message) {
  impl_->publish(room, message);
}

// Clients are Engine.IO sessions (a connection may carry several sockets).
TransportStats SocketIoTransport::stats() const {
  return impl_->fanout.counters.stats(impl_->engine_count);
}

std::string SocketIoTransport::url() const {
  return impl_->server.base_url() + impl_->options.path + "/";
}

}  // namespace tickcast::socketio
