#include "tickcast/launch/transports.h"

#include <algorithm>
#include <stdexcept>

#include "tickcast/longpoll/longpoll_transport.h"
#include "tickcast/socketio/socketio_transport.h"
#include "tickcast/sse/sse_transport.h"
#include "tickcast/ws/ws_transport.h"

namespace tickcast::launch {
namespace {

bool on_the_port(const std::string& name) { return name != "mqtt"; }

std::unique_ptr<Transport> make(const std::string& name, http::Server& server,
                                const mqtt::MqttOptions& mqtt) {
  if (name == "ws") return std::make_unique<ws::WsTransport>(server);
  if (name == "sse") return std::make_unique<sse::SseTransport>(server);
  if (name == "longpoll") return std::make_unique<longpoll::LongPollTransport>(server);
  if (name == "socketio") return std::make_unique<socketio::SocketIoTransport>(server);
  return std::make_unique<mqtt::MqttTransport>(mqtt);
}

}  // namespace

const std::vector<std::string>& known_transports() {
  static const std::vector<std::string> names{"ws", "sse", "longpoll", "socketio", "mqtt"};
  return names;
}

Transports::Transports(Options options)
    : options_(std::move(options)), server_(std::make_unique<http::Server>(options_.http)) {
  const auto& known = known_transports();
  for (const auto& name : options_.transports) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      throw std::invalid_argument("unknown transport \"" + name +
                                  "\" (known: ws, sse, longpoll, socketio, mqtt)");
    }
  }
}

Transports::~Transports() { stop(); }

void Transports::start(Sink& sink) {
  if (std::any_of(options_.transports.begin(), options_.transports.end(), on_the_port)) {
    server_->start();
  }
  for (const auto& name : options_.transports) {
    transports_.push_back(make(name, *server_, options_.mqtt));
    transports_.back()->start(sink);
  }
}

void Transports::publish(std::string_view room, const Message& message) {
  for (auto& transport : transports_) transport->publish(room, message);
}

void Transports::stop() {
  for (auto it = transports_.rbegin(); it != transports_.rend(); ++it) (*it)->stop();
  transports_.clear();  // before the port they run on
  server_->stop();
}

std::string Transports::describe() const {
  std::string port_names, out;
  for (const auto& name : options_.transports) {
    if (on_the_port(name)) port_names += (port_names.empty() ? "" : ", ") + name;
  }
  if (!port_names.empty()) out = port_names + " on " + server_->base_url();
  const bool mqtt = std::find(options_.transports.begin(), options_.transports.end(), "mqtt") !=
                    options_.transports.end();
  if (mqtt) {
    out += out.empty() ? "" : "; ";
    out += options_.mqtt.broker_url.empty()
               ? "mqtt on mqtt://" + options_.mqtt.host + ":" + std::to_string(options_.mqtt.port)
               : "mqtt via " + options_.mqtt.broker_url;
  }
  return out;
}

}  // namespace tickcast::launch
