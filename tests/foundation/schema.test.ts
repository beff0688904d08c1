/**
 * cri/api.proto must equal the reference CRI v1 schema on the wire: services, methods,
 * message names, field names, numbers, types, labels and enum values. And cri/types.ts
 * must be what the generator makes of it today.
 */
import assert from "node:assert/strict";
import protobuf from "protobufjs";
import { generateTypes } from "../../scripts/gen_cri_types.ts";

/** The project's own copy of upstream's schema (cri/reference/README.md says which version). */
const REFERENCE = new URL("../../cri/reference/cri-api-v1.proto", import.meta.url);
const OURS = new URL("../../cri/api.proto", import.meta.url);

interface Shape {
  services: Record<string, Record<string, string>>;
  messages: Record<string, Record<string, string>>;
  enums: Record<string, Record<string, number>>;
}

function shapeOf(text: string): Shape {
  const root = protobuf.parse(text, { keepCase: true }).root;
  root.resolveAll();
  const shape: Shape = { services: {}, messages: {}, enums: {} };
  const walk = (ns: protobuf.NamespaceBase) => {
    for (const obj of ns.nestedArray) {
      const name = obj.fullName;
      if (obj instanceof protobuf.Service) {
        shape.services[name] = Object.fromEntries(
          obj.methodsArray.map((m) => [
            m.name,
            `${m.requestStream ? "stream " : ""}${m.resolvedRequestType!.fullName} -> ${
              m.responseStream ? "stream " : ""
            }${m.resolvedResponseType!.fullName}`,
          ]),
        );
      } else if (obj instanceof protobuf.Type) {
        shape.messages[name] = Object.fromEntries(
          obj.fieldsArray.map((f) => {
            const type = f.resolvedType ? f.resolvedType.fullName : f.type;
            const label = f instanceof protobuf.MapField
              ? `map<${f.keyType},${type}>`
              : `${
                f.repeated
                  ? "repeated"
                  : f.optional && f.options?.proto3_optional
                  ? "optional"
                  : "singular"
              } ${type}`;
            return [f.name, `${f.id} ${label}`];
          }),
        );
        walk(obj);
      } else if (obj instanceof protobuf.Enum) {
        shape.enums[name] = { ...obj.values };
      } else if (obj instanceof protobuf.Namespace) {
        walk(obj);
      }
    }
  };
  walk(root);
  return shape;
}

Deno.test("cri/api.proto equals the reference CRI v1 schema on the wire", async () => {
  const reference = shapeOf(await Deno.readTextFile(REFERENCE));
  const ours = shapeOf(await Deno.readTextFile(OURS));
  assert.deepEqual(Object.keys(ours.services).sort(), Object.keys(reference.services).sort());
  for (const [svc, methods] of Object.entries(reference.services)) {
    assert.deepEqual(ours.services[svc], methods, `service ${svc}`);
  }
  assert.deepEqual(Object.keys(ours.messages).sort(), Object.keys(reference.messages).sort());
  for (const [msg, fields] of Object.entries(reference.messages)) {
    assert.deepEqual(ours.messages[msg], fields, `message ${msg}`);
  }
  assert.deepEqual(ours.enums, reference.enums);
});

Deno.test("the reference has the 41 RPCs of CRI v1, and so do we", async () => {
  const ours = shapeOf(await Deno.readTextFile(OURS));
  const count = Object.values(ours.services).reduce((n, m) => n + Object.keys(m).length, 0);
  assert.deepEqual(count, 41);
});

Deno.test("the schema comparison notices a changed field number", async () => {
  const text = await Deno.readTextFile(OURS);
  const changed = text.replace(
    /message VersionResponse \{([^}]*)string runtime_name = 2;/,
    "message VersionResponse {$1string runtime_name = 7;",
  );
  const a = shapeOf(text).messages[".runtime.v1.VersionResponse"];
  const b = shapeOf(changed).messages[".runtime.v1.VersionResponse"];
  assert.deepEqual(a.runtime_name, "2 singular string");
  assert.deepEqual(b.runtime_name, "7 singular string");
});

Deno.test("cri/types.ts is generated from the current cri/api.proto", async () => {
  const expected = generateTypes(await Deno.readTextFile(OURS));
  const actual = await Deno.readTextFile(new URL("../../cri/types.ts", import.meta.url));
  assert.deepEqual(actual, expected, "run: deno run -A scripts/gen_cri_types.ts");
});
