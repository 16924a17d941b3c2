// Helper for MqttEmbeddedBroker.DiesWithItsOwnerEvenOnSigkill: starts an MqttTransport with
// an embedded broker on the port given as argv[1], prints "broker-pid N", and waits to be
// killed.

#include <unistd.h>

#include <cstdio>
#include <string>

#include "tickcast/mqtt/mqtt_transport.h"

namespace {

class NullSink final : public tickcast::Sink {
 public:
  void on_subscribe(std::string, std::optional<std::uint64_t>, tickcast::ClientRef) override {}
  void on_message(std::string, std::string, tickcast::ClientRef) override {}
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  tickcast::mqtt::MqttOptions options;
  options.port = std::stoi(argv[1]);
  tickcast::mqtt::MqttTransport transport(options);
  NullSink sink;
  transport.start(sink);
  std::printf("broker-pid %d\n", transport.embedded_broker_pid());
  std::fflush(stdout);
  for (;;) ::pause();  // until SIGKILLed
}
