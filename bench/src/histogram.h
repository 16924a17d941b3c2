#pragma once
// A log-linear latency histogram in the spirit of HdrHistogram: values are kept in
// power-of-two ranges, each split into 2^sub_bucket_bits equal sub-buckets, so every
// recorded value is known to within 1 / 2^sub_bucket_bits of itself (0.8% by default)
// and memory stays fixed however many values are recorded.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tickcast::bench {

/// Histogram counts non-negative integer values (microseconds in the bench) up to 2^40.
/// Values below 0 are recorded as 0, values above the range as the largest bucket.
/// Threads: not thread-safe; one writer, or copy it under the owner's lock.
class Histogram {
 public:
  /// Histogram keeps 2^sub_bucket_bits sub-buckets per power of two (1..12).
  explicit Histogram(int sub_bucket_bits = 7);

  /// record adds `count` occurrences of `value`.
  void record(std::int64_t value, std::uint64_t count = 1);
  /// merge adds every value of `other`, which must have the same sub_bucket_bits.
  void merge(const Histogram& other);
  /// reset forgets every value.
  void reset();

  /// percentile returns the value at `p` (0..100): the highest value equivalent to the
  /// smallest recorded value at or above that rank; exact for min and max. 0 when empty.
  std::int64_t percentile(double p) const;
  std::uint64_t count() const { return count_; }
  std::int64_t min() const { return count_ ? min_ : 0; }
  std::int64_t max() const { return count_ ? max_ : 0; }
  double mean() const {
    return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0;
  }

 private:
  std::size_t index_of(std::int64_t value) const;
  std::int64_t highest_equivalent(std::size_t index) const;

  int sub_bits_;
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::int64_t min_ = 0;
  std::int64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace tickcast::bench
