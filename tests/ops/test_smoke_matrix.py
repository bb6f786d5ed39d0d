from tests.support import assert_authz_matrix, make_actors


async def test_members_matrix(gql, factory, admin_db):
    actors = await make_actors(factory)
    query = "query($s:String!){organization(slug:$s){ name members(first:10){ totalCount nodes { role email } } }}"
    await assert_authz_matrix(gql, actors, query, {"s": actors.org_slug}, path=["organization", "members"],
                              allowed={"staff_with_permission", "staff_without_permission"})
