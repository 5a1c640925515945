using System.ComponentModel;
using System.Text.Json.Serialization;
using Gorgo.Routing.Options;

namespace Gorgo.Routing.Index;

/// <summary>A replica's cached block hashes, hottest (most recently used) first; the unit of index snapshots and gossip.</summary>
public sealed record PrefixSummary(string ReplicaId, ulong[] Hashes);

/// <summary>How <see cref="PrefixIndex.Apply"/> combines a summary with what the index already knows of that replica.</summary>
[JsonConverter(typeof(EnumNameJsonConverter<PrefixMergeMode>))]
[TypeConverter(typeof(EnumNameTypeConverter<PrefixMergeMode>))]
public enum PrefixMergeMode
{
    /// <summary>The summary is the replica's whole state: forget blocks it does not list.</summary>
    Replace,

    /// <summary>Add the summary's blocks to what is known (as if just used, hottest last touched).</summary>
    Union,
}
