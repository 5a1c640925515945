using Gorgo.Routing.Index;

namespace Gorgo.Routing.Tests;

public class HashSlotMapTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Behaves_like_a_dictionary_under_random_adds_overwrites_and_removes_giving_removed_values(int seed)
    {
        var random = new Random(seed);
        var map = new HashSlotMap();
        var model = new Dictionary<ulong, int>();

        // Small key space so removals hit and probe runs collide often.
        for (int step = 0; step < 50_000; step++)
        {
            ulong key = (ulong)random.Next(0, 3_000) * 0x1000_0000_0000UL;
            switch (random.Next(3))
            {
                case 0:
                case 1:
                    int value = random.Next(0, 1_000_000);
                    map.Set(key, value);
                    model[key] = value;
                    break;
                default:
                    bool known = model.Remove(key, out int expected);
                    Assert.Equal(known, map.Remove(key, out int removed));
                    Assert.Equal(known ? expected : 0, removed);
                    break;
            }

            if (step % 1_000 == 0)
            {
                Assert.Equal(model.Count, map.Count);
                foreach ((ulong k, int v) in model)
                {
                    Assert.True(map.TryGetValue(k, out int got));
                    Assert.Equal(v, got);
                }
            }
        }

        for (ulong k = 0; k < 3_000; k++)
        {
            ulong key = k * 0x1000_0000_0000UL;
            Assert.Equal(model.ContainsKey(key), map.TryGetValue(key, out _));
        }
    }

    [Fact]
    public void Zero_is_a_valid_key()
    {
        var map = new HashSlotMap();
        Assert.False(map.TryGetValue(0, out _));
        map.Set(0, 5);
        Assert.True(map.TryGetValue(0, out int v));
        Assert.Equal(5, v);
        Assert.True(map.Remove(0));
        Assert.Equal(0, map.Count);
    }

    [Fact]
    public void Rejects_negative_values()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new HashSlotMap().Set(1, -1));
    }
}
