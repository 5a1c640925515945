using Gorgo.Replica.KvEvents;

namespace Gorgo.Replica.Tests;

/// <summary>
/// Decoding of KV event batches from byte fixtures laid out as vLLM encodes them. vLLM's <c>KVEventBatch</c>,
/// <c>BlockStored</c>, <c>BlockRemoved</c> and <c>AllBlocksCleared</c> are msgspec structs with
/// <c>array_like=True, omit_defaults=True</c> and (events) <c>tag=True</c>, so msgspec writes a batch as
/// <c>[ts, [events], data_parallel_rank]</c> (the rank dropped when None, a trailing default), each event as an array
/// whose first element is the class name, then the fields in declaration order. The fixtures below were written by hand
/// from that layout and the msgpack specification (type bytes annotated); msgspec writes floats as float64 and
/// integers in their smallest form. The map fixtures are what msgspec writes for the same structs without
/// <c>array_like</c> (tag field <c>"type"</c>).
/// </summary>
public sealed class KvEventCodecTests
{
    // [1.5, [["BlockStored", [1, 2], nil, [10, 11, 12, 13], 2, nil, "GPU"], ["BlockRemoved", [1], "GPU"]]]
    private const string ArrayFormBatch =
        "92" + "cb3ff8000000000000"                       // array(2), float64 1.5
        + "92"                                              // events: array(2)
        + "97" + "ab" + "426c6f636b53746f726564"          // array(7), fixstr(11) "BlockStored"
        + "920102" + "c0" + "940a0b0c0d" + "02" + "c0" + "a3475055" // [1,2], nil, [10..13], 2, nil, "GPU"
        + "93" + "ac" + "426c6f636b52656d6f766564"        // array(3), fixstr(12) "BlockRemoved"
        + "9101" + "a3475055";                              // [1], "GPU"

    [Fact]
    public void Decodes_the_array_form_vllm_publishes()
    {
        KvEventBatch batch = KvEventCodec.Decode(Convert.FromHexString(ArrayFormBatch));

        Assert.Equal(1.5, batch.Timestamp);
        Assert.Null(batch.DataParallelRank);
        Assert.Equal(2, batch.Events.Count);
        var stored = Assert.IsType<KvBlockStored>(batch.Events[0]);
        Assert.Equal(new ulong[] { 1, 2 }, stored.BlockHashes);
        Assert.Null(stored.ParentBlockHash);
        Assert.Equal(new[] { 10, 11, 12, 13 }, stored.TokenIds);
        Assert.Equal(2, stored.BlockSize);
        Assert.Null(stored.LoraId);
        Assert.Equal("GPU", stored.Medium);
        var removed = Assert.IsType<KvBlockRemoved>(batch.Events[1]);
        Assert.Equal(new ulong[] { 1 }, removed.BlockHashes);
    }

    [Fact]
    public void Encodes_batches_byte_for_byte_as_vllm_does()
    {
        var batch = new KvEventBatch(1.5, [new KvBlockStored([1, 2], null, [10, 11, 12, 13], 2, null, "GPU"), new KvBlockRemoved([1], "GPU")]);

        Assert.Equal(ArrayFormBatch, Convert.ToHexString(KvEventCodec.Encode(batch)), ignoreCase: true);
    }

    [Fact]
    public void Decodes_the_map_form_with_a_rank_and_a_clear()
    {
        // {"ts": 2, "events": [{"type": "AllBlocksCleared"}], "data_parallel_rank": 3}: an integer timestamp is accepted too.
        string hex = "83" + "a2" + "7473" + "02"
            + "a6" + "6576656e7473" + "91" + "81" + "a4" + "74797065" + "b0" + Hex("AllBlocksCleared")
            + "b2" + Hex("data_parallel_rank") + "03";

        KvEventBatch batch = KvEventCodec.Decode(Convert.FromHexString(hex));

        Assert.Equal(2, batch.Timestamp);
        Assert.Equal(3, batch.DataParallelRank);
        Assert.IsType<KvAllBlocksCleared>(Assert.Single(batch.Events));
    }

    [Fact]
    public void Decodes_map_form_events_with_fields_in_any_order()
    {
        // {"ts": 1.5, "events": [{"medium": nil, "type": "BlockStored", "block_size": 1, "token_ids": [7], "lora_id": 4, "parent_block_hash": 9, "block_hashes": [5]}]}
        string hex = "82" + "a2" + "7473" + "cb3ff8000000000000" + "a6" + "6576656e7473" + "91"
            + "87" + "a6" + Hex("medium") + "c0" + "a4" + "74797065" + "ab" + Hex("BlockStored")
            + "aa" + Hex("block_size") + "01" + "a9" + Hex("token_ids") + "9107" + "a7" + Hex("lora_id") + "04"
            + "b1" + Hex("parent_block_hash") + "09" + "ac" + Hex("block_hashes") + "9105";

        var stored = Assert.IsType<KvBlockStored>(Assert.Single(KvEventCodec.Decode(Convert.FromHexString(hex)).Events));

        Assert.Equal(new ulong[] { 5 }, stored.BlockHashes);
        Assert.Equal(9UL, stored.ParentBlockHash);
        Assert.Equal(new[] { 7 }, stored.TokenIds);
        Assert.Equal(4L, stored.LoraId);
        Assert.Null(stored.Medium);
    }

    [Fact]
    public void Keeps_integer_hashes_bit_for_bit_and_folds_byte_hashes()
    {
        // ["BlockRemoved", [uint64 0xfffffffffffffffe, int64 -2, bin8(32 bytes of 0xab)], nil]
        string sha = string.Concat(Enumerable.Repeat("ab", 32));
        string hex = "92" + "cb3ff8000000000000" + "91"
            + "93" + "ac" + Hex("BlockRemoved")
            + "93" + "cffffffffffffffffe" + "d3fffffffffffffffe" + "c420" + sha + "c0";

        var removed = Assert.IsType<KvBlockRemoved>(Assert.Single(KvEventCodec.Decode(Convert.FromHexString(hex)).Events));

        Assert.Equal(0xfffffffffffffffeUL, removed.BlockHashes[0]);
        Assert.Equal(0xfffffffffffffffeUL, removed.BlockHashes[1]); // -2 as the same 64 bits
        Assert.Equal(KvEventCodec.FoldBytes(Convert.FromHexString(sha)), removed.BlockHashes[2]);
    }

    [Fact]
    public void Skips_unknown_event_types_and_fields_newer_engines_add()
    {
        // [1.5, [["SomethingNew", 1], ["BlockRemoved", [8], nil, "extra"]], 0, "future field"]
        string hex = "94" + "cb3ff8000000000000" + "92"
            + "92" + "ac" + Hex("SomethingNew") + "01"
            + "94" + "ac" + Hex("BlockRemoved") + "9108" + "c0" + "a5" + Hex("extra")
            + "00" + "ac" + Hex("future field");

        KvEventBatch batch = KvEventCodec.Decode(Convert.FromHexString(hex));

        Assert.Equal(0, batch.DataParallelRank);
        Assert.Equal(new ulong[] { 8 }, Assert.IsType<KvBlockRemoved>(Assert.Single(batch.Events)).BlockHashes);
    }

    [Theory]
    [InlineData("01", "not an array or a map")]
    [InlineData("92cb3ff800000000000091", "truncated")]
    [InlineData("92cb3ff8000000000000909000", "bytes after the batch")]
    [InlineData("92cb3ff800000000000091" + "90", "an event without a tag")]
    [InlineData("92cb3ff800000000000091" + "97ab426c6f636b53746f726564" + "9101c0940a0b0c0d02c0c0", "1 block of 2 tokens but 4 token ids")]
    [InlineData("92cb3ff800000000000091" + "93ac426c6f636b52656d6f766564" + "91a178c0", "a string where a hash belongs")]
    public void Rejects_malformed_batches_with_a_format_error(string hex, string why)
    {
        Assert.Throws<FormatException>(() => KvEventCodec.Decode(Convert.FromHexString(hex)));
        Assert.NotEmpty(why);
    }

    [Fact]
    public void Sequence_frames_are_eight_bytes_big_endian()
    {
        Assert.Equal("0000000000000102", Convert.ToHexString(KvEventCodec.SequenceFrame(258)));
        Assert.Equal(-1, KvEventCodec.ReadSequence(Convert.FromHexString("ffffffffffffffff")));
        Assert.Throws<FormatException>(() => KvEventCodec.ReadSequence([1, 2]));
    }

    private static string Hex(string ascii) => Convert.ToHexString(System.Text.Encoding.ASCII.GetBytes(ascii));
}
