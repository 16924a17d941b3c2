// The MQTT command path's reading of a message: the room in its topic, the reply topic.
#include "command_topic.h"

#include <gtest/gtest.h>

namespace tickcast::mqtt {
namespace {

constexpr std::string_view kPrefix = "tickcast/rooms/";

TEST(CommandTopic, RoomBetweenPrefixAndSuffix) {
  EXPECT_EQ(command_room("tickcast/rooms/focus/commands", kPrefix), "focus");
  EXPECT_EQ(command_room("tickcast/rooms//commands", kPrefix), "");
  EXPECT_FALSE(command_room("tickcast/rooms/focus/events", kPrefix));
  EXPECT_FALSE(command_room("other/rooms/focus/commands", kPrefix));
  EXPECT_FALSE(command_room("tickcast/rooms/commands", kPrefix));
}

TEST(ReplyTopic, RefusesWildcardsAndTheRoomsOwnTopics) {
  EXPECT_TRUE(valid_reply_topic("me/replies", kPrefix));
  EXPECT_TRUE(valid_reply_topic("tickcast/rooms/focus/errors", kPrefix));
  EXPECT_FALSE(valid_reply_topic("a/+/b", kPrefix));
  EXPECT_FALSE(valid_reply_topic("a/#", kPrefix));
  EXPECT_FALSE(valid_reply_topic(std::string_view("a\0b", 3), kPrefix));
  EXPECT_FALSE(valid_reply_topic("tickcast/rooms/focus/events", kPrefix));
  EXPECT_FALSE(valid_reply_topic("tickcast/rooms/focus/state", kPrefix));
  EXPECT_FALSE(valid_reply_topic("tickcast/rooms/focus/commands", kPrefix));
}

// Found by the mqtt_command fuzzer (fuzz/corpus/mqtt_command/crash-*): "" and control
// characters passed, and libmosquitto then refused to publish the reply.
TEST(ReplyTopic, RefusesWhatLibmosquittoWillNotPublish) {
  EXPECT_FALSE(valid_reply_topic("", kPrefix));
  EXPECT_FALSE(valid_reply_topic("a\rdata/state0b", kPrefix));
  EXPECT_FALSE(
      valid_reply_topic("a\x01"
                        "b",
                        kPrefix));
  EXPECT_FALSE(valid_reply_topic("\xff", kPrefix));
  EXPECT_TRUE(valid_reply_topic("caf\xc3\xa9/replies", kPrefix));
}

TEST(ReplyTo, ReadFromTheCommand) {
  auto r = read_reply_to(R"({"type":"start","reply_to":"me/replies"})", kPrefix);
  EXPECT_TRUE(r.present && r.valid);
  EXPECT_EQ(r.topic, "me/replies");
  r = read_reply_to(R"({"type":"start","reply_to":"","request_id":"r1"})", kPrefix);
  EXPECT_TRUE(r.present);
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.request_id, "r1");
  EXPECT_FALSE(read_reply_to(R"({"type":"start","reply_to":null})", kPrefix).present);
  EXPECT_FALSE(read_reply_to("not json", kPrefix).present);
}

}  // namespace
}  // namespace tickcast::mqtt
