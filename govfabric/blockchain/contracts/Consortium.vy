# pragma version 0.4.3
"""
@title govfabric department consortium
@notice The admin adds and removes department accounts; the other govfabric
        contracts accept writes only from current members.
"""

event MemberAdded:
    member: indexed(address)
    name: String[64]

event MemberRemoved:
    member: indexed(address)

event AdminChanged:
    previous: indexed(address)
    admin: indexed(address)

admin: public(address)
is_member: public(HashMap[address, bool])
member_name: public(HashMap[address, String[64]])
member_count: public(uint256)


@deploy
def __init__():
    self.admin = msg.sender
    self.is_member[msg.sender] = True
    self.member_name[msg.sender] = "admin"
    self.member_count = 1
    log MemberAdded(member=msg.sender, name="admin")


@external
def add_member(member: address, name: String[64]):
    assert msg.sender == self.admin, "only the consortium admin adds members"
    assert member != empty(address), "member is the zero address"
    assert not self.is_member[member], "already a member"
    self.is_member[member] = True
    self.member_name[member] = name
    self.member_count += 1
    log MemberAdded(member=member, name=name)


@external
def remove_member(member: address):
    assert msg.sender == self.admin, "only the consortium admin removes members"
    assert member != self.admin, "the admin cannot be removed"
    assert self.is_member[member], "not a member"
    self.is_member[member] = False
    self.member_count -= 1
    log MemberRemoved(member=member)


@external
def change_admin(new_admin: address):
    assert msg.sender == self.admin, "only the consortium admin changes the admin"
    assert new_admin != empty(address), "admin is the zero address"
    if not self.is_member[new_admin]:
        self.is_member[new_admin] = True
        self.member_count += 1
        log MemberAdded(member=new_admin, name="admin")
    log AdminChanged(previous=self.admin, admin=new_admin)
    self.admin = new_admin
