#!/usr/bin/env python3
"""Runs the key lifecycle through PyKMIP's ProxyKmipClient against a KMIP server over mutual TLS.

Steps, in order, in KMIP 1.2 (PyKMIP's default) unless said otherwise:
create, register, get (both), get_attributes, get_attribute_list, activate, check, locate (by
name), rekey, modify_attribute and delete_attribute (1.x forms) on the registered key's Name,
set_attribute (a KMIP 2.0 operation, through a 2.0 client), revoke, destroy, and get after
destroy (must fail). Each step is checked here (identifiers, key bytes, states, names) and
reported; a failed step does not stop the others.

Prints one JSON object on stdout: {"steps": [{"step": "create", "ok": true, "detail": ...}, ...]}.
Exits 0 when every step passed, 1 when some failed, 2 when the client could not connect, 64 on
bad arguments. The Rust test tests/pykmip_lifecycle.rs drives it.

Usage: lifecycle.py HOST PORT CERT KEY CA
"""

import logging
import sys
import warnings

warnings.simplefilter("ignore")

from kmip.core import enums  # noqa: E402
from kmip.core.factories import attributes as attribute_factory  # noqa: E402
from kmip.pie import objects  # noqa: E402
from steps import Steps, cannot_connect, connect, expect  # noqa: E402

# A recognisable 256-bit key for register; compared after get.
REGISTERED_KEY = bytes(range(0x40, 0x60))
NAME = "pykmip-lifecycle-key"



def attribute_names(attributes):
    return [a.attribute_name.value for a in attributes]


def attribute_value(attributes, name):
    for a in attributes:
        if a.attribute_name.value == name:
            return a.attribute_value
    return None


def lifecycle(c, c20, steps):
    factory = attribute_factory.AttributeFactory()
    ids = {}

    def create():
        uid = c.create(
            enums.CryptographicAlgorithm.AES, 256, name=NAME,
            cryptographic_usage_mask=[enums.CryptographicUsageMask.ENCRYPT,
                                      enums.CryptographicUsageMask.DECRYPT])
        expect(isinstance(uid, str) and uid, "create returned no identifier")
        ids["created"] = uid
        return uid
    steps.run("create", create)

    def register():
        key = objects.SymmetricKey(
            enums.CryptographicAlgorithm.AES, 256, REGISTERED_KEY,
            masks=[enums.CryptographicUsageMask.ENCRYPT], name="pykmip-registered")
        uid = c.register(key)
        expect(uid and uid != ids.get("created"), "register returned no new identifier")
        ids["registered"] = uid
        return uid
    steps.run("register", register)

    def get_created():
        key = c.get(ids["created"])
        expect(isinstance(key, objects.SymmetricKey), "not a symmetric key")
        expect(len(key.value) == 32, "key of {} bytes".format(len(key.value)))
        expect(key.cryptographic_algorithm == enums.CryptographicAlgorithm.AES, "not AES")
        return {"length": key.cryptographic_length}
    steps.run("get created", get_created)

    def get_registered():
        key = c.get(ids["registered"])
        expect(key.value == REGISTERED_KEY, "registered key bytes differ")
        return True
    steps.run("get registered", get_registered)

    def get_attributes():
        uid, attributes = c.get_attributes(
            ids["created"], ["State", "Cryptographic Algorithm", "Cryptographic Length", "Name"])
        expect(uid == ids["created"], "wrong identifier {}".format(uid))
        state = attribute_value(attributes, "State")
        expect(state is not None and state.value == enums.State.PRE_ACTIVE,
               "state {}".format(state))
        name = attribute_value(attributes, "Name")
        expect(name is not None and name.name_value.value == NAME, "name {}".format(name))
        return attribute_names(attributes)
    steps.run("get_attributes", get_attributes)

    def get_attribute_list():
        names = c.get_attribute_list(ids["created"])
        for wanted in ["State", "Cryptographic Algorithm", "Unique Identifier"]:
            expect(wanted in names, "{} missing from {}".format(wanted, names))
        return sorted(names)
    steps.run("get_attribute_list", get_attribute_list)

    def activate():
        c.activate(ids["created"])
        _, attributes = c.get_attributes(ids["created"], ["State"])
        expect(attribute_value(attributes, "State").value == enums.State.ACTIVE, "not Active")
        return True
    steps.run("activate", activate)

    def check():
        uid = c.check(ids["created"],
                      cryptographic_usage_mask=[enums.CryptographicUsageMask.ENCRYPT])
        expect(uid == ids["created"], "check returned {}".format(uid))
        return uid
    steps.run("check", check)

    def locate():
        name = factory.create_attribute(enums.AttributeType.NAME, NAME)
        found = c.locate(attributes=[name])
        expect(found == [ids["created"]], "located {}".format(found))
        return found
    steps.run("locate", locate)

    def rekey():
        uid = c.rekey(uid=ids["created"])
        expect(uid and uid != ids["created"], "rekey returned {}".format(uid))
        key = c.get(uid)
        expect(len(key.value) == 32, "replacement key of {} bytes".format(len(key.value)))
        ids["rekeyed"] = uid
        return uid
    steps.run("rekey", rekey)

    def modify_attribute():
        new_name = factory.create_attribute(enums.AttributeType.NAME, "pykmip-renamed", 0)
        uid, attribute = c.modify_attribute(unique_identifier=ids["registered"],
                                            attribute=new_name)
        expect(uid == ids["registered"], "modify returned {}".format(uid))
        _, attributes = c.get_attributes(ids["registered"], ["Name"])
        name = attribute_value(attributes, "Name")
        expect(name is not None and name.name_value.value == "pykmip-renamed",
               "name after modify {}".format(name))
        return True

    steps.run("modify_attribute", modify_attribute)

    def delete_attribute():
        uid, attribute = c.delete_attribute(unique_identifier=ids["registered"],
                                            attribute_name="Name", attribute_index=0)
        expect(uid == ids["registered"], "delete returned {}".format(uid))
        _, attributes = c.get_attributes(ids["registered"], ["Name"])
        expect(attribute_value(attributes, "Name") is None, "Name still present")
        return True
    steps.run("delete_attribute", delete_attribute)

    def set_attribute():
        uid = c20.set_attribute(unique_identifier=ids["registered"],
                                attribute_name="Contact Information",
                                attribute_value="keys@example.org")
        expect(uid == ids["registered"], "set returned {}".format(uid))
        _, attributes = c.get_attributes(ids["registered"], ["Contact Information"])
        value = attribute_value(attributes, "Contact Information")
        expect(value is not None and value.value == "keys@example.org",
               "contact information {}".format(value))
        return True
    steps.run("set_attribute (2.0)", set_attribute)

    def revoke():
        c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, ids["created"])
        _, attributes = c.get_attributes(ids["created"], ["State"])
        expect(attribute_value(attributes, "State").value == enums.State.DEACTIVATED,
               "not Deactivated")
        return True
    steps.run("revoke", revoke)

    def destroy():
        c.destroy(ids["created"])
        c.destroy(ids["registered"])
        return True
    steps.run("destroy", destroy)

    def get_destroyed():
        try:
            c.get(ids["created"])
        except Exception as error:
            return "refused: {}".format(error)
        raise AssertionError("get of a destroyed key succeeded")
    steps.run("get after destroy fails", get_destroyed)


def main(argv):
    if len(argv) != 6:
        sys.stderr.write(__doc__)
        return 64
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("kmip.core.config_helper").setLevel(logging.ERROR)
    steps = Steps()
    try:
        c = connect(argv[1:], enums.KMIPVersion.KMIP_1_2)
        c20 = connect(argv[1:], enums.KMIPVersion.KMIP_2_0)
        c.open()
        c20.open()
    except Exception as error:
        return cannot_connect(error)
    try:
        lifecycle(c, c20, steps)
    finally:
        c.close()
        c20.close()
    return steps.report()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
