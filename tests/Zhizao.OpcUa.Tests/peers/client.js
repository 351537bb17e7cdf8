// A node-opcua CLIENT for the interop tests of our OPC UA server (Zhizao.OpcUa.Server).
// usage: node client.js ENDPOINT_URL PKI_DIR MACHINE [None|Sign|SignAndEncrypt]
// Connects (anonymous; SecurityPolicy None, or Basic256Sha256 for Sign/SignAndEncrypt), browses Objects -> Plant -> MACHINE, reads every variable there, writes
// MACHINE/setpoint = 3.5, subscribes to MACHINE/power_kw (100 ms) until it has seen 3 changes, and prints one JSON line.
"use strict";
const path = require("path");
const {
    OPCUAClient, OPCUACertificateManager, MessageSecurityMode, SecurityPolicy, AttributeIds, ClientSubscription,
    ClientMonitoredItem, TimestampsToReturn, DataType, BrowseDirection
} = require("node-opcua");

const [url, pki, machine, modeName] = process.argv.slice(2);
const mode = MessageSecurityMode[modeName || "None"];
const policy = mode === MessageSecurityMode.None ? SecurityPolicy.None : SecurityPolicy.Basic256Sha256;
const version = require("node-opcua/package.json").version;

function plain(v) {
    if (v === null || v === undefined) return null;
    if (typeof v === "bigint") return Number(v);
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === "number") return v[0] * 4294967296 + v[1]; // Int64 as [hi, lo]
    return v;
}

async function main() {
    const clientCertificateManager = new OPCUACertificateManager({
        automaticallyAcceptUnknownCertificate: true,
        rootFolder: path.join(pki, "client")
    });
    await clientCertificateManager.initialize();
    const client = OPCUAClient.create({
        applicationName: "zhizao-interop-client",
        clientCertificateManager,
        securityMode: mode,
        securityPolicy: policy,
        endpointMustExist: false,
        connectionStrategy: { maxRetry: 3, initialDelay: 250, maxDelay: 1000 },
        requestedSessionTimeout: 60000
    });
    const out = { version, securityMode: MessageSecurityMode[mode] };
    await client.connect(url);
    const session = await client.createSession();
    const objects = await session.browse("ns=0;i=85");
    out.objects = objects.references.map(r => r.browseName.name);
    const plant = await session.browse("ns=1;s=Plant");
    out.machines = plant.references.map(r => r.browseName.name);
    const tags = await session.browse({
        nodeId: `ns=1;s=Plant/${machine}`, browseDirection: BrowseDirection.Forward, resultMask: 63,
        referenceTypeId: "HierarchicalReferences", includeSubtypes: true
    });
    out.tags = tags.references.map(r => r.browseName.name).sort();
    const nodes = tags.references.map(r => r.nodeId.toString());
    const values = await session.read(nodes.map(nodeId => ({ nodeId, attributeId: AttributeIds.Value })));
    out.values = {};
    out.sourceTimestamps = {};
    tags.references.forEach((r, i) => {
        out.values[r.browseName.name] = plain(values[i].value.value);
        out.sourceTimestamps[r.browseName.name] = values[i].sourceTimestamp ? values[i].sourceTimestamp.toISOString() : null;
    });
    const dataType = await session.read({ nodeId: `ns=1;s=Plant/${machine}/power_kw`, attributeId: AttributeIds.DataType });
    out.powerDataType = dataType.value.value.toString();
    const written = await session.write({
        nodeId: `ns=1;s=Plant/${machine}/setpoint`, attributeId: AttributeIds.Value,
        value: { value: { dataType: DataType.Double, value: 3.5 } }
    });
    out.write = written.name;
    const missing = await session.read({ nodeId: "ns=1;s=Plant/none", attributeId: AttributeIds.Value });
    out.missing = missing.statusCode.name;

    const subscription = ClientSubscription.create(session, {
        requestedPublishingInterval: 100, requestedMaxKeepAliveCount: 10, requestedLifetimeCount: 100,
        maxNotificationsPerPublish: 0, publishingEnabled: true, priority: 1
    });
    const changes = [];
    await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("fewer than 4 data changes within 30 s: " + JSON.stringify(changes))), 30000);
        const item = ClientMonitoredItem.create(subscription,
            { nodeId: `ns=1;s=Plant/${machine}/power_kw`, attributeId: AttributeIds.Value },
            { samplingInterval: 50, discardOldest: true, queueSize: 10 }, TimestampsToReturn.Both);
        item.on("changed", dv => {
            changes.push({ value: plain(dv.value.value), source: dv.sourceTimestamp ? dv.sourceTimestamp.toISOString() : null });
            if (changes.length >= 4) { clearTimeout(timer); resolve(); }
        });
        item.on("err", e => { clearTimeout(timer); reject(new Error("monitored item: " + e)); });
    });
    out.changes = changes;
    await subscription.terminate();
    await session.close();
    await client.disconnect();
    console.log(JSON.stringify(out));
}

main().then(() => process.exit(0), e => { console.error("FAILED " + (e && e.stack || e)); process.exit(1); });
