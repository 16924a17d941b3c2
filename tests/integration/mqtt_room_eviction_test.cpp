// A room used only over MQTT is evicted when no command came for --room-idle, and its
// retained state is cleared from the broker, against a real mosquitto.

#include <gtest/gtest.h>

#include "mqtt_test_support.h"
#include "tickcast/core/hub.h"
#include "tickcast/mqtt/mqtt_transport.h"

namespace tickcast::mqtt_test {
namespace {

TEST(MqttRoomEviction, AnIdleRoomIsEvictedAndItsRetainedStateCleared) {
  TestBroker broker;
  SystemClock clock;
  HubOptions hub_options{TimerConfig{}, Millis(50), 64, 100};
  hub_options.room_idle = 1s;
  Hub hub(hub_options, clock);
  mqtt::MqttOptions options;
  options.broker_url = broker.url();
  options.connect_timeout = 5000ms;
  mqtt::MqttTransport transport(options);
  hub.add_transport(transport);
  transport.start(hub);
  hub.start();

  MqttProbe probe(broker.port(), {"tickcast/rooms/quiet/state"});
  ASSERT_TRUE(probe.wait_subscribed(5s));
  const auto [code, out] =
      run({"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(broker.port()), "-q", "1", "-t",
           "tickcast/rooms/quiet/commands", "-m", R"({"type":"configure","work_ms":60000})"});
  ASSERT_EQ(code, 0) << out;

  // First the state, then (no client joins over MQTT; no command comes) the eviction
  // deletes it with a zero-length retained message.
  const bool cleared = probe.wait(
      [](const std::vector<Received>& got) {
        return got.size() >= 2 && !got.front().payload.empty() && got.back().payload.empty();
      },
      10s);
  EXPECT_TRUE(cleared) << probe.messages().size() << " messages";
  EXPECT_EQ(hub.stats().rooms_evicted, 1u);
  EXPECT_EQ(hub.stats().rooms, 0u);
  hub.stop();
  transport.stop();
}

}  // namespace
}  // namespace tickcast::mqtt_test
