using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;

namespace Gorgo.Replica.Backends;

/// <summary>Reads server-sent events from a pipe as they arrive, without buffering the whole response.</summary>
/// <remarks>
/// Follows the event-stream format: lines end with LF, CRLF or CR; <c>data:</c> lines (one optional space after the
/// colon) accumulate, joined by LF; a blank line dispatches the event; comment lines (<c>:</c>) and other fields are
/// ignored. Each dispatched event's data is yielded as a string.
/// </remarks>
public static class SseReader
{
    /// <summary>Longest line accepted, so a broken peer cannot make the reader buffer without bound.</summary>
    public const int MaxLineBytes = 4 * 1024 * 1024;

    /// <summary>Yields the data of each event in <paramref name="reader"/> until the stream ends.</summary>
    public static async IAsyncEnumerable<string> ReadEventsAsync(PipeReader reader, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var data = new StringBuilder();
        bool hasData = false;
        while (true)
        {
            ReadResult result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            var events = new List<string>();
            while (TryReadLine(ref buffer, result.IsCompleted, out ReadOnlySequence<byte> line))
            {
                if (line.IsEmpty)
                {
                    if (hasData)
                    {
                        events.Add(data.ToString());
                        data.Clear();
                        hasData = false;
                    }

                    continue;
                }

                string text = Encoding.UTF8.GetString(line);
                if (text.StartsWith("data:", StringComparison.Ordinal))
                {
                    if (hasData)
                    {
                        data.Append('\n');
                    }

                    data.Append(text.AsSpan(text.Length > 5 && text[5] == ' ' ? 6 : 5));
                    hasData = true;
                }
            }

            if (buffer.Length > MaxLineBytes)
            {
                throw new InvalidDataException($"An event-stream line exceeds {MaxLineBytes} bytes.");
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
            foreach (string e in events)
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return e;
            }

            if (result.IsCompleted)
            {
                if (hasData)
                {
                    yield return data.ToString();
                }

                yield break;
            }
        }
    }

    private static bool TryReadLine(ref ReadOnlySequence<byte> buffer, bool final, out ReadOnlySequence<byte> line)
    {
        SequencePosition? end = buffer.PositionOfAny((byte)'\n', (byte)'\r');
        if (end is null)
        {
            if (final && !buffer.IsEmpty)
            {
                line = buffer;
                buffer = buffer.Slice(buffer.End);
                return true;
            }

            line = default;
            return false;
        }

        line = buffer.Slice(0, end.Value);
        ReadOnlySequence<byte> rest = buffer.Slice(end.Value);
        bool carriageReturn = rest.FirstSpan[0] == (byte)'\r';
        rest = rest.Slice(1);
        if (carriageReturn)
        {
            if (rest.IsEmpty && !final)
            {
                // A CR at the end of what has arrived may be the first half of CRLF: wait for more.
                line = default;
                return false;
            }

            if (!rest.IsEmpty && rest.FirstSpan[0] == (byte)'\n')
            {
                rest = rest.Slice(1);
            }
        }

        buffer = rest;
        return true;
    }
}

/// <summary>Finds the first of two bytes in a sequence.</summary>
internal static class SequenceExtensions
{
    public static SequencePosition? PositionOfAny(this in ReadOnlySequence<byte> sequence, byte a, byte b)
    {
        SequencePosition position = sequence.Start;
        SequencePosition current = position;
        while (sequence.TryGet(ref position, out ReadOnlyMemory<byte> memory))
        {
            int index = memory.Span.IndexOfAny(a, b);
            if (index >= 0)
            {
                return sequence.GetPosition(index, current);
            }

            current = position;
        }

        return null;
    }
}
