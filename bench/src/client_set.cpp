#include "client_set.h"

#include <stdexcept>

#include "mqtt_clients.h"
#include "stream_clients.h"

namespace tickcast::bench {

std::unique_ptr<ClientSet> make_ws_clients(const Endpoint& endpoint, std::size_t n);
std::unique_ptr<ClientSet> make_ws_raw_clients(const Endpoint& endpoint, std::size_t n);
std::unique_ptr<ClientSet> make_socketio_clients(const Endpoint& endpoint, std::size_t n);

std::size_t fds_per_client(std::string_view transport) {
  return transport == "mqtt-mosquitto" ? 3 : 1;
}

std::unique_ptr<ClientSet> make_client_set(std::string_view transport, const Endpoint& endpoint,
                                           std::size_t n) {
  if (transport == "ws-tls" || transport == "sse-tls") {
    Endpoint tls = endpoint;
    tls.tls = true;
    return transport == "ws-tls" ? make_ws_raw_clients(tls, n) : make_sse_clients(tls, n);
  }
  if (transport == "ws") return make_ws_raw_clients(endpoint, n);
  if (transport == "ws-lws") return make_ws_clients(endpoint, n);
  if (transport == "sse" || transport == "sse-httplib") return make_sse_clients(endpoint, n);
  if (transport == "longpoll") return make_longpoll_clients(endpoint, n);
  if (transport == "mqtt") return make_mqtt_raw_clients(endpoint, n);
  if (transport == "mqtt-mosquitto") return make_mqtt_clients(endpoint, n);
  if (transport == "socketio") return make_socketio_clients(endpoint, n);
  if (transport == "tcp") return make_tcp_clients(endpoint, n);
  throw std::invalid_argument("unknown transport '" + std::string(transport) + "'");
}

}  // namespace tickcast::bench
