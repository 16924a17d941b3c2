// The shared text/event-stream reader of the tests and the bench.
#include "sse/sse_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tickcast::support {
namespace {

struct Read {
  std::vector<SseBlock> events;
  std::vector<std::string> comments;
};

// Feeds `wire` one byte at a time: whole lines only, whatever the reads.
Read read_bytewise(std::string_view wire) {
  SseParser parser;
  Read out;
  std::string body;
  for (const char c : wire) {
    body.push_back(c);
    parser.feed(
        body, [&](const SseBlock& event) { out.events.push_back(event); },
        [&](std::string_view text) { out.comments.emplace_back(text); });
  }
  EXPECT_EQ(body.find('\n'), std::string::npos) << "only a partial line stays";
  return out;
}

TEST(SseParser, FieldsOfAnEventAcrossReads) {
  SseParser parser;
  std::vector<SseBlock> events;
  auto collect = [&](const SseBlock& event) { events.push_back(event); };
  std::string body = "id: 7\nevent: timer\ndata: {\"a\":";
  parser.feed(body, collect);
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(body, "data: {\"a\":") << "the partial line waits for the rest";
  body += "1}\n\n";
  parser.feed(body, collect);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].id, "7");
  EXPECT_EQ(events[0].event, "timer");
  EXPECT_EQ(events[0].data, "{\"a\":1}");
  EXPECT_TRUE(events[0].retry.empty());
  EXPECT_TRUE(body.empty());
}

TEST(SseParser, MultiLineDataJoinsWithNewlinesAndCrlfEndsLines) {
  const Read read = read_bytewise("data: one\r\ndata:two\r\ndata\r\n\r\n");
  ASSERT_EQ(read.events.size(), 1u);
  EXPECT_EQ(read.events[0].data, "one\ntwo\n") << "a bare `data` line is an empty data line";
}

TEST(SseParser, CommentsAndRetryOnlyBlocks) {
  const Read read = read_bytewise("retry: 1000\n\n: heartbeat\n\n:\nid: 3\ndata: x\n\n");
  ASSERT_EQ(read.events.size(), 2u);
  EXPECT_EQ(read.events[0].retry, "1000") << "a retry-only block is an event (tests look for it)";
  EXPECT_TRUE(read.events[0].data.empty());
  EXPECT_EQ(read.events[1].id, "3");
  EXPECT_EQ(read.events[1].data, "x");
  EXPECT_TRUE(read.events[1].retry.empty()) << "fields do not carry over to the next event";
  EXPECT_EQ(read.comments, (std::vector<std::string>{" heartbeat", ""}));
}

TEST(SseParser, UnknownFieldsAndEmptyBlocksAreNoEvents) {
  const Read read = read_bytewise("\n\nfoo: bar\n\ndata:  two spaces\n\n");
  ASSERT_EQ(read.events.size(), 1u);
  EXPECT_EQ(read.events[0].data, " two spaces") << "only one space after ':' is dropped";
}

}  // namespace
}  // namespace tickcast::support
