// How the cluster store writes room names and records in JetStream (stores/nats).
#include <gtest/gtest.h>

#include "record_codec.h"
#include "tickcast/nats/nats_store.h"

namespace tickcast::nats {
namespace {

TEST(NatsRecordCodec, RoomNamesRoundTripThroughHexWhateverTheyHold) {
  for (const std::string& name :
       std::vector<std::string>{"focus", "a.b*c>d e", std::string("\0\xff", 2), ""}) {
    const std::string hex = hex_encode(name);
    EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_EQ(hex_decode(hex), name);
  }
  EXPECT_EQ(hex_decode("abc"), std::nullopt);
  EXPECT_EQ(hex_decode("zz"), std::nullopt);
}

TEST(NatsRecordCodec, ARecordRoundTripsExactly) {
  RoomRecord r;
  r.name = "focus";
  r.seq = 1796388951501829;
  r.epoch = 1796388951500000;
  r.timer.config.work = Millis(1500000);
  r.timer.config.short_break = Millis(300000);
  r.timer.config.long_break = Millis(900000);
  r.timer.config.cycles = 3;
  r.timer.phase = Phase::short_break;
  r.timer.completed_work = 2;
  r.timer.running = true;
  r.timer.deadline_wall_us = 1796388955002770;
  r.timer.remaining_us = 0;
  const auto back = decode_record(encode_record(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->name, r.name);
  EXPECT_EQ(back->seq, r.seq);
  EXPECT_EQ(back->epoch, r.epoch);
  EXPECT_EQ(back->timer, r.timer);
}

TEST(NatsRecordCodec, MalformedOrInvalidRecordsAreRefused) {
  EXPECT_FALSE(decode_record("not json"));
  EXPECT_FALSE(decode_record("{}"));
  RoomRecord r;
  r.name = "x";
  std::string bad_phase = encode_record(r);
  bad_phase.replace(bad_phase.find("\"work\""), 6, "\"nap\"");
  EXPECT_FALSE(decode_record(bad_phase));
  r.timer.config.cycles = 0;
  EXPECT_FALSE(decode_record(encode_record(r)));
}

TEST(NatsRecordCodec, ServerListsSplitOnCommas) {
  EXPECT_EQ(parse_servers("nats://a:1,nats://b:2,,nats://c:3"),
            (std::vector<std::string>{"nats://a:1", "nats://b:2", "nats://c:3"}));
  EXPECT_TRUE(parse_servers("").empty());
}

}  // namespace
}  // namespace tickcast::nats
