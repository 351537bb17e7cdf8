namespace Zhizao.OpcUa.Tests;

/// <summary>The binary encoding against bytes written by hand from Part 6, 5.2.</summary>
public sealed class EncodingTests
{
    private static byte[] Encode(Action<BinaryEncoder> write)
    {
        using var e = new BinaryEncoder();
        write(e);
        return e.ToArray();
    }

    private static BinaryDecoder Decoder(string hex, OpcUaLimits? limits = null) => new(Convert.FromHexString(hex.Replace(" ", "")), limits);

    [Theory]
    [InlineData("i=72", "0048")] // two-byte
    [InlineData("ns=5;i=1025", "01050104")] // four-byte
    [InlineData("ns=300;i=70000", "022C0170110100")] // numeric
    [InlineData("ns=1;s=Hot水", "0301000600000048 6F74E6B0B4")] // string (UTF-8)
    [InlineData("ns=2;g=72962b91-fa75-4ae6-8d28-b404dc7daf63", "040200912B9672 75FAE64A8D28B404DC7DAF63")]
    [InlineData("ns=1;b=AQID", "05010003000000010203")]
    public void NodeId_forms_match_the_specification_bytes(string text, string hex)
    {
        var id = NodeId.Parse(text);
        byte[] expected = Convert.FromHexString(hex.Replace(" ", ""));
        Assert.Equal(expected, Encode(e => e.WriteNodeId(id)));
        Assert.Equal(id, new BinaryDecoder(expected).ReadNodeId());
        Assert.Equal(text, id.ToString());
    }

    [Fact]
    public void ExpandedNodeId_carries_namespace_uri_and_server_index()
    {
        var id = new ExpandedNodeId(new NodeId(0, 85u), "urn:x", 3);
        byte[] bytes = Encode(e => e.WriteExpandedNodeId(id));
        Assert.Equal(Convert.FromHexString("C055" + "05000000" + "75726E3A78" + "03000000"), bytes);
        Assert.Equal(id, new BinaryDecoder(bytes).ReadExpandedNodeId());
    }

    [Fact]
    public void Strings_null_empty_and_utf8()
    {
        Assert.Equal(Convert.FromHexString("FFFFFFFF"), Encode(e => e.WriteString(null)));
        Assert.Equal(Convert.FromHexString("00000000"), Encode(e => e.WriteString("")));
        Assert.Equal(Convert.FromHexString("06000000E699BAE980A0"), Encode(e => e.WriteString("智造")));
        Assert.Null(Decoder("FFFFFFFF").ReadString());
        Assert.Equal("智造", Decoder("06000000E699BAE980A0").ReadString());
    }

    [Fact]
    public void DateTime_is_100ns_ticks_since_1601_and_min_max_are_special()
    {
        var t = new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc).AddTicks(1234567);
        byte[] bytes = Encode(e => e.WriteDateTime(t));
        Assert.Equal(t.ToFileTimeUtc(), BitConverter.ToInt64(bytes));
        Assert.Equal(t, new BinaryDecoder(bytes).ReadDateTime());
        Assert.Equal(new byte[8], Encode(e => e.WriteDateTime(DateTime.MinValue)));
        Assert.Equal(DateTime.MaxValue, new BinaryDecoder(Encode(e => e.WriteDateTime(DateTime.MaxValue))).ReadDateTime());
        Assert.Equal(DateTime.MinValue, Decoder("FFFFFFFFFFFFFFFF").ReadDateTime()); // negative ticks
    }

    [Fact]
    public void Guid_uses_the_mixed_endian_layout()
    {
        var g = Guid.Parse("72962B91-FA75-4AE6-8D28-B404DC7DAF63");
        Assert.Equal(Convert.FromHexString("912B967275FAE64A8D28B404DC7DAF63"), Encode(e => e.WriteGuid(g)));
    }

    [Fact]
    public void LocalizedText_and_QualifiedName()
    {
        Assert.Equal(Convert.FromHexString("03" + "02000000656E" + "0200000048 69".Replace(" ", "")), Encode(e => e.WriteLocalizedText(new LocalizedText("en", "Hi"))));
        Assert.Equal(Convert.FromHexString("00"), Encode(e => e.WriteLocalizedText(LocalizedText.Null)));
        Assert.Equal(new LocalizedText(null, "Hi"), Decoder("02 02000000 4869").ReadLocalizedText());
        Assert.Equal(Convert.FromHexString("0200" + "0300000041 6263".Replace(" ", "")), Encode(e => e.WriteQualifiedName(new QualifiedName(2, "Abc"))));
    }

    [Fact]
    public void Variant_scalar_array_and_matrix()
    {
        Assert.Equal(Convert.FromHexString("06" + "2A000000"), Encode(e => e.WriteVariant(new Variant(42))));
        Assert.Equal(Convert.FromHexString("8B" + "02000000" + "000000000000F03F" + "0000000000000040"),
            Encode(e => e.WriteVariant(Variant.From(new[] { 1.0, 2.0 }))));
        var matrix = new Variant(BuiltInType.Int16, new short[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        byte[] m = Encode(e => e.WriteVariant(matrix));
        Assert.Equal(Convert.FromHexString("C4" + "06000000" + "010002000300040005000600" + "02000000" + "02000000" + "03000000"), m);
        Assert.Equal(matrix, new BinaryDecoder(m).ReadVariant());
        Assert.Equal(Convert.FromHexString("00"), Encode(e => e.WriteVariant(Variant.Null)));
    }

    [Fact]
    public void DataValue_mask_orders_fields_as_the_specification()
    {
        var t = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var dv = new DataValue(new Variant(true), StatusCodes.BadNodeIdUnknown, t) { ServerTimestamp = t, SourcePicoseconds = 7 };
        byte[] bytes = Encode(e => e.WriteDataValue(dv));
        Assert.Equal(0x1F, bytes[0]);
        Assert.Equal(Convert.FromHexString("0101"), bytes[1..3]); // Variant Boolean true
        Assert.Equal(Convert.FromHexString("00003480"), bytes[3..7]);
        Assert.Equal(dv, new BinaryDecoder(bytes).ReadDataValue());
    }

    [Fact]
    public void DiagnosticInfo_nests_and_round_trips()
    {
        var info = new DiagnosticInfo(1, 2, 3, 4, "more", StatusCodes.BadTimeout, new DiagnosticInfo(SymbolicId: 9));
        byte[] bytes = Encode(e => e.WriteDiagnosticInfo(info));
        Assert.Equal(0x7F, bytes[0]);
        Assert.Equal(1, BitConverter.ToInt32(bytes, 1)); // symbolic id
        Assert.Equal(2, BitConverter.ToInt32(bytes, 5)); // namespace uri
        Assert.Equal(3, BitConverter.ToInt32(bytes, 9)); // locale comes before localized text
        Assert.Equal(info, new BinaryDecoder(bytes).ReadDiagnosticInfo());
    }

    [Fact]
    public void ExtensionObject_known_type_decodes_and_unknown_type_keeps_its_bytes()
    {
        var filter = new DataChangeFilter { DeadbandType = DeadbandType.Absolute, DeadbandValue = 0.5 };
        byte[] bytes = Encode(e => e.WriteExtensionObject(new ExtensionObject(filter)));
        Assert.Equal(Convert.FromHexString("0100D402" + "01" + "10000000"), bytes[..9]);
        var back = Assert.IsType<DataChangeFilter>(new BinaryDecoder(bytes).ReadExtensionObject().Body);
        Assert.Equal(0.5, back.DeadbandValue);
        var unknown = Decoder("02 0000 E8030000 01 03000000 AABBCC").ReadExtensionObject();
        Assert.Equal(new NodeId(0, 1000u), unknown.TypeId);
        Assert.Equal(new byte[] { 0xAA, 0xBB, 0xCC }, unknown.Body);
    }

    [Fact]
    public void Service_messages_round_trip()
    {
        var request = new CreateMonitoredItemsRequest
        {
            SubscriptionId = 7,
            ItemsToCreate =
            [
                new MonitoredItemCreateRequest
                {
                    ItemToMonitor = new ReadValueId(new NodeId(2, "x")),
                    ClientHandle = 3,
                    SamplingInterval = 100,
                    QueueSize = 5,
                    Filter = new ExtensionObject(new DataChangeFilter { DeadbandType = DeadbandType.Absolute, DeadbandValue = 1 }),
                },
            ],
        };
        byte[] bytes = Encode(request.Encode);
        var back = new CreateMonitoredItemsRequest();
        back.Decode(new BinaryDecoder(bytes));
        Assert.Equal(7u, back.SubscriptionId);
        Assert.Equal(new NodeId(2, "x"), back.ItemsToCreate[0].ItemToMonitor.NodeId);
        Assert.Equal(5u, back.ItemsToCreate[0].QueueSize);
        Assert.IsType<DataChangeFilter>(back.ItemsToCreate[0].Filter.Body);
    }

    // ---- hostile input: every error names what and where

    [Fact]
    public void Truncated_input_names_the_type_and_offset()
    {
        var e = Assert.Throws<OpcUaDecodingException>(() => Decoder("0300 0100 0A000000 4142").ReadNodeId());
        Assert.Contains("String", e.Message);
        Assert.Contains("offset 7", e.Message);
    }

    [Fact]
    public void String_longer_than_the_limit_is_refused_before_allocation()
    {
        var e = Assert.Throws<OpcUaDecodingException>(() => Decoder("FFFFFF7F").ReadString());
        Assert.Contains("MaxStringLength", e.Message);
        Assert.Equal(StatusCodes.BadEncodingLimitsExceeded, e.Status);
        Assert.Contains("offset 0", e.Message);
    }

    [Fact]
    public void Array_count_beyond_limit_or_remaining_bytes_is_refused()
    {
        var tooMany = Assert.Throws<OpcUaDecodingException>(() => Decoder("8B FFFFFF00").ReadVariant());
        Assert.Contains("MaxArrayLength", tooMany.Message);
        var tooFew = Assert.Throws<OpcUaDecodingException>(() => Decoder("8B 10000000 0000").ReadVariant());
        Assert.Contains("remain", tooFew.Message);
        Assert.Contains("offset 1", tooFew.Message);
        var negative = Assert.Throws<OpcUaDecodingException>(() => Decoder("8B FEFFFFFF").ReadVariant());
        Assert.Contains("negative", negative.Message);
    }

    [Fact]
    public void Nesting_deeper_than_the_limit_is_refused()
    {
        // a Variant holding a Variant holding a Variant ... 100 deep
        byte[] bytes = [.. Enumerable.Repeat((byte)0x18, 100), 0x00];
        var e = Assert.Throws<OpcUaDecodingException>(() => new BinaryDecoder(bytes, new OpcUaLimits { MaxNestingDepth = 20 }).ReadVariant());
        Assert.Contains("MaxNestingDepth 20", e.Message);
    }

    [Fact]
    public void Unknown_encodings_are_refused()
    {
        Assert.Contains("NodeId encoding 0x07", Assert.Throws<OpcUaDecodingException>(() => Decoder("07").ReadNodeId()).Message);
        Assert.Contains("built-in type 40", Assert.Throws<OpcUaDecodingException>(() => Decoder("28").ReadVariant()).Message);
        Assert.Contains("encoding byte 9", Assert.Throws<OpcUaDecodingException>(() => Decoder("00 00 09").ReadExtensionObject()).Message);
        Assert.Contains("UTF-8", Assert.Throws<OpcUaDecodingException>(() => Decoder("02000000 C328").ReadString()).Message);
        Assert.Contains("matrix dimensions", Assert.Throws<OpcUaDecodingException>(() => Decoder("C6 02000000 01000000 02000000 01000000 05000000").ReadVariant()).Message);
    }

    [Fact]
    public void ExtensionObject_body_length_must_match_what_the_type_reads()
    {
        // DataChangeFilter (724) says 20 bytes of body, the type reads 16
        var e = Assert.Throws<OpcUaDecodingException>(() => Decoder("0100D402 01 14000000 01000000 01000000 000000000000F03F 00000000").ReadExtensionObject());
        Assert.Contains("left 4", e.Message);
    }

    [Fact]
    public void Encoder_refuses_values_over_the_limits()
    {
        using var e = new BinaryEncoder(new OpcUaLimits { MaxStringLength = 4, MaxArrayLength = 2 });
        Assert.Contains("MaxStringLength", Assert.Throws<OpcUaEncodingException>(() => e.WriteString("hello")).Message);
        Assert.Contains("MaxArrayLength", Assert.Throws<OpcUaEncodingException>(() => e.WriteVariant(Variant.From(new[] { 1, 2, 3 }))).Message);
        Assert.Contains("holds a String", Assert.Throws<OpcUaEncodingException>(() => e.WriteVariant(new Variant(BuiltInType.Int32, "x"))).Message);
    }

    [Fact]
    public void NodeId_text_errors_name_the_problem()
    {
        Assert.Contains("bad namespace", Assert.Throws<FormatException>(() => NodeId.Parse("ns=x;i=1")).Message);
        Assert.Contains("not a UInt32", Assert.Throws<FormatException>(() => NodeId.Parse("i=-1")).Message);
        Assert.Contains("unknown identifier type", Assert.Throws<FormatException>(() => NodeId.Parse("q=1")).Message);
    }
}
