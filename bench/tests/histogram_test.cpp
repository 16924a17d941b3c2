#include "histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace tickcast::bench {
namespace {

TEST(Histogram, EmptyIsZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0);
  EXPECT_EQ(h.max(), 0);
}

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (int v = 0; v < 100; ++v) h.record(v);
  EXPECT_EQ(h.percentile(50), 49);
  EXPECT_EQ(h.percentile(100), 99);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 99);
  EXPECT_DOUBLE_EQ(h.mean(), 49.5);
}

TEST(Histogram, MinAndMaxAreExactAtAnyScale) {
  Histogram h;
  h.record(123456789);
  h.record(1000001);
  EXPECT_EQ(h.min(), 1000001);
  EXPECT_EQ(h.max(), 123456789);
  EXPECT_EQ(h.percentile(100), 123456789);
  EXPECT_EQ(h.percentile(0), 1000001);
}

TEST(Histogram, PercentilesWithinPrecisionOfSortedValues) {
  std::mt19937_64 random(42);
  std::lognormal_distribution<double> latency(8.0, 1.5);  // µs, long tail
  std::vector<std::int64_t> values;
  Histogram h(7);
  for (int i = 0; i < 200000; ++i) {
    const auto v = static_cast<std::int64_t>(latency(random));
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {10.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    const auto rank =
        static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size()))) - 1;
    const double exact = static_cast<double>(values[rank]);
    const double got = static_cast<double>(h.percentile(p));
    EXPECT_GE(got, exact) << "p" << p;                           // highest equivalent value
    EXPECT_LE(got, exact * (1.0 + 1.0 / 64.0) + 1) << "p" << p;  // within one sub-bucket
  }
}

TEST(Histogram, MergeAddsCounts) {
  Histogram a, b;
  for (int i = 0; i < 10; ++i) a.record(100);
  for (int i = 0; i < 10; ++i) b.record(100000);
  a.merge(b);
  EXPECT_EQ(a.count(), 20u);
  EXPECT_EQ(a.min(), 100);
  EXPECT_EQ(a.max(), 100000);
  EXPECT_EQ(a.percentile(50), 100);
  EXPECT_GE(a.percentile(51), 99000);
}

TEST(Histogram, NegativeAndHugeValuesAreClamped) {
  Histogram h;
  h.record(-5);
  h.record(std::int64_t{1} << 50);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_GT(h.max(), std::int64_t{1} << 39);
}

TEST(Histogram, ResetForgets) {
  Histogram h;
  h.record(7, 3);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  h.record(9);
  EXPECT_EQ(h.min(), 9);
}

}  // namespace
}  // namespace tickcast::bench
