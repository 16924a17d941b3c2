#include "tickcast/socketio/socketio_transport.h"

#include "impl.h"

namespace tickcast::socketio {

SocketIoTransport::SocketIoTransport(http::Server& server, SocketIoOptions options)
    : impl_(std::make_shared<Impl>(server, std::move(options))) {}

SocketIoTransport::~SocketIoTransport() { stop(); }

void SocketIoTransport::start(Sink& sink) {
  auto& loop = impl_->server.loop();
  loop.run_sync([&] {
    impl_->sink = &sink;
    impl_->counters.accepting = true;
    loop.add_websocket_endpoint(impl_->options.path, &impl_->ws_endpoint);
    // Clients ask for `/socket.io/` (socket.io-client adds the slash) or `/socket.io`; the
    // router tells the two apart, so both are routed.
    for (const std::string& path : {impl_->options.path, impl_->options.path + "/"}) {
      loop.add_stream_endpoint("GET", path, &impl_->poll_endpoint);
      loop.add_stream_endpoint("POST", path, &impl_->poll_endpoint);
    }
  });
}

void SocketIoTransport::stop() {
  if (!impl_->sink) return;
  auto& loop = impl_->server.loop();
  loop.run_sync([&] {
    impl_->counters.accepting = false;
    loop.remove_endpoint(&impl_->ws_endpoint);
    loop.remove_endpoint(&impl_->poll_endpoint);
    // Closed without a Socket.IO DISCONNECT, so clients reconnect (and recover) elsewhere.
    for (auto& [sid, engine] : impl_->engines) {
      impl_->close_engine(*engine, 1001, "server shutting down");
    }
    impl_->reap();
    lws_sul_cancel(&impl_->sweep_timer.sul);
    impl_->sweep_at.reset();
  });
  {
    std::unique_lock lock(impl_->connections_mutex);
    impl_->connections_gone.wait_for(lock, std::chrono::seconds(2),
                                     [&] { return impl_->connection_count == 0; });
  }
  // Whatever did not close in time is dropped by the loop when the Server stops.
  loop.run_sync([&] { impl_->sink = nullptr; });
}

void SocketIoTransport::publish(std::string_view room, const Message& message) {
  http::internal::post_fan_out(impl_->server.loop(), impl_, room, message);
}

TransportStats SocketIoTransport::stats() const {
  return impl_->counters.stats(impl_->engine_count);
}

std::string SocketIoTransport::url() const {
  return impl_->server.base_url() + impl_->options.path + "/";
}

}  // namespace tickcast::socketio
