// format_test: event lines and typed commands of tickcast-client.
#include "format.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

using tickcast::client::format_event;
using tickcast::client::is_error_reply;
using tickcast::client::parse_command;

TEST(FormatEvent, TickLine) {
  const char* event =
      R"({"event":"timer","success":true,"data":"00:24:59","error":null,"room":"focus",)"
      R"("seq":42,"reason":"tick","state":{"phase":"work","running":true,)"
      R"("remaining_ms":1499000,"duration_ms":1500000,"completed_work":0},)"
      R"("server_time_us":1764000000000000})";
  EXPECT_EQ(format_event(event), "focus #42  work  00:24:59  running  (tick)");
}

TEST(FormatEvent, ErrorLine) {
  const char* error =
      R"({"event":"timer","success":false,"data":null,"error":"Timer already started",)"
      R"("code":"already_running","request_id":"r1"})";
  EXPECT_EQ(format_event(error), "error already_running: Timer already started");
  std::string code, id;
  EXPECT_TRUE(is_error_reply(error, &code, &id));
  EXPECT_EQ(code, "already_running");
  EXPECT_EQ(id, "r1");
}

// A number out of the integer's range is no seq (it used to be converted: undefined
// behaviour, found by the client_format fuzzer).
TEST(FormatEvent, AFloatSeqOutOfRangeIsNoSeq) {
  const char* event =
      R"({"event":"timer","success":true,"data":"00:24:59","room":"focus",)"
      R"("seq":3333333333333333333333333342,"reason":"tick","state":{"phase":"work",)"
      R"("running":true,"remaining_ms":1499000,"duration_ms":1500000,"completed_work":0}})";
  EXPECT_EQ(format_event(event), "focus #0  work  00:24:59  running  (tick)");
}

TEST(FormatEvent, NonJsonPassesThrough) {
  EXPECT_EQ(format_event("hello"), "hello");
  EXPECT_EQ(format_event("[1,2]"), "[1,2]");
  EXPECT_FALSE(is_error_reply("[1,2]"));
}

TEST(ParseCommand, SimpleCommandsGetRequestId) {
  for (const char* type : {"start", "stop", "reset", "skip"}) {
    auto cmd = parse_command(std::string("  ") + type + " \r", "c7");
    ASSERT_TRUE(cmd.json) << cmd.error;
    EXPECT_EQ(cmd.type, type);
    EXPECT_EQ(nlohmann::json::parse(*cmd.json),
              (nlohmann::json{{"type", type}, {"request_id", "c7"}}));
  }
}

TEST(ParseCommand, Configure) {
  auto cmd = parse_command("configure work_ms=60000 cycles=2", "");
  ASSERT_TRUE(cmd.json) << cmd.error;
  EXPECT_EQ(nlohmann::json::parse(*cmd.json),
            (nlohmann::json{{"type", "configure"}, {"work_ms", 60000}, {"cycles", 2}}));
  EXPECT_FALSE(parse_command("configure work_ms=abc", "").json);
  EXPECT_FALSE(parse_command("configure work_ms", "").json);
}

// Found by the client_format fuzzer (fuzz/corpus/client_format/crash-*): a key that is
// not UTF-8 made the JSON encoder throw and ended tickcast-client.
TEST(ParseCommand, KeyThatIsNotUtf8) {
  auto cmd = parse_command("configure wo\x96rk_ms=60000", "c2");
  ASSERT_TRUE(cmd.json) << cmd.error;
  const auto j = nlohmann::json::parse(*cmd.json, nullptr, false);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.value("type", ""), "configure");
  EXPECT_EQ(j.value("request_id", ""), "c2");
}

TEST(ParseCommand, RawJsonAndRejects) {
  auto raw = parse_command(R"({"type":"nope"})", "c1");
  ASSERT_TRUE(raw.json);
  EXPECT_EQ(*raw.json, R"({"type":"nope"})");
  EXPECT_FALSE(parse_command("{broken", "c1").json);
  EXPECT_FALSE(parse_command("launch", "c1").json);
  EXPECT_FALSE(parse_command("start now", "c1").json);
  EXPECT_FALSE(parse_command("", "c1").json);
}
